"""A synthetic COCO set made once and reused: the demo's data, generated on its first run and
again only when its parameters change."""
import json
from pathlib import Path
from typing import Sequence, Tuple

from .arguments import ImageSize, parse_image_size
from .coco import coco_outputs, make_synthetic_coco
from .info import DEFAULT_CLASSES, PathLike, SyntheticCocoInfo

STAMP_FILE = 'mmrest_demo_data.json'  # marks a data folder as the demo's (replaceable) own


def _is_complete(info: SyntheticCocoInfo) -> bool:
    return all(
        info.ann_files[split].is_file() and info.img_dirs[split].is_dir()
        and sum(1 for _ in info.img_dirs[split].iterdir()) == count
        for split, count in info.num_images.items())


def prepare_synthetic_coco(root: PathLike,
                           num_train: int,
                           num_val: int,
                           image_size: ImageSize,
                           seed: int = 0,
                           classes: Sequence[str] = DEFAULT_CLASSES
                           ) -> Tuple[SyntheticCocoInfo, bool]:
    """Generate the synthetic COCO set in ``root`` unless it is already there.

    A stamp file records the parameters. A folder whose stamp matches and whose files are all
    there is reused; a folder with another stamp (an earlier or interrupted demo set) is
    replaced; a folder with a set but without a stamp is someone else's and is left alone
    (``FileExistsError``).

    Returns:
        The set's description and whether it was generated now (False: reused).
    """
    root = Path(root)
    params = dict(num_train=int(num_train), num_val=int(num_val),
                  image_size=list(parse_image_size(image_size)), seed=int(seed),
                  classes=list(classes))
    stamp = root / STAMP_FILE
    if stamp.is_file():
        saved = json.loads(stamp.read_text())
        if saved.get('params') == params and saved.get('info'):
            info = SyntheticCocoInfo.from_dict(saved['info'], root)
            if _is_complete(info):
                return info, False
    else:
        # make_synthetic_coco would refuse as well, but only after the stamp below had claimed
        # the folder, and the next run would then replace someone else's data.
        img_dirs, ann_files = coco_outputs(root, ('train', 'val'))
        existing = [str(p) for p in (*img_dirs.values(), *ann_files.values()) if p.exists()]
        if existing:
            raise FileExistsError(
                f'{", ".join(existing)} already exist(s) and are not the demo\'s (no '
                f'{STAMP_FILE} in {root}); choose another --data-root or remove them')
    root.mkdir(parents=True, exist_ok=True)
    # Written before the data: an interrupted generation leaves a folder the next run replaces.
    stamp.write_text(json.dumps(dict(params=params, info=None)) + '\n')
    info = make_synthetic_coco(
        root, num_train=params['num_train'], num_val=params['num_val'],
        image_size=tuple(params['image_size']), seed=params['seed'], classes=params['classes'],
        overwrite=True)
    stamp.write_text(json.dumps(dict(params=params, info=info.to_dict()), indent=1) + '\n')
    return info, True
