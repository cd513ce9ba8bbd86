"""``python -m mmrest.datasets.synthetic``: see :mod:`mmrest.datasets.synthetic.cli`."""
import sys

from .cli import main

sys.exit(main())
