"""What a family of the reference generator writes: a JSON record (provenance, layout, keys and
shapes) and an ``.npz`` of arrays, in the output folder."""
import json
import os
import os.path as osp
import subprocess
from typing import Any, Dict, List

import numpy as np


def revision(path: str) -> str:
    """The git commit of the checkout ``path``."""
    try:
        return subprocess.run(['git', '-C', path, 'rev-parse', 'HEAD'], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown (not a git checkout)'



def write(out_dir: str, name: str, info: Dict[str, Any],
           arrays: Dict[str, np.ndarray]) -> List[str]:
    """Write ``{name}.json`` and ``{name}.npz`` in ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path, npz_path = osp.join(out_dir, f'{name}.json'), osp.join(out_dir, f'{name}.npz')
    with open(json_path, 'w') as f:
        json.dump(info, f, indent=1)
    np.savez_compressed(npz_path, **arrays)
    return [json_path, npz_path]
