"""``python -m mmrest TOOL ...``: see :mod:`mmrest.commands`."""
import sys

from .commands import main

sys.exit(main())
