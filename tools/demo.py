"""The README's demo: build every ResT / ResTv2 variant, run it on image-sized tensors (a
multiple of 32 and an odd size) and print output shapes, parameters and FLOPs."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tools.analysis.backbone_summary import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(['--input', '224x224', '513x769'] + sys.argv[1:]))
