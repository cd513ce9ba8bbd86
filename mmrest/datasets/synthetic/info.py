"""What the synthetic writers wrote: the class names and palette, the folders and files of each
split, and the keyword arguments of the OpenMMLab dataset classes that read them."""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ...utils.aliases import PathLike

#: Shapes the generator can draw; any non-empty subset, in any order, can be used as classes.
SUPPORTED_SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'ellipse', 'star')
DEFAULT_CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle')
#: Class name of the background in `make_synthetic_ade(background_class=True)` sets.
BACKGROUND_CLASS = 'background'

# Fixed RGB palette (mmdet/mmseg visualisers take RGB), so colours do not change with class order.
PALETTE: Dict[str, Tuple[int, int, int]] = {
    BACKGROUND_CLASS: (120, 120, 120),
    'circle': (220, 20, 60),
    'square': (0, 130, 200),
    'triangle': (60, 180, 75),
    'ellipse': (255, 180, 0),
    'star': (145, 30, 180),
}

SPLIT_CODES = {'train': 0, 'val': 1}  # the splits; part of each image's RNG seed


@dataclass(frozen=True)
class _SyntheticInfo:
    """What a writer wrote (common part).

    Attributes:
        root: Dataset root (``data_root``).
        classes: Class names.
        palette: One RGB colour per class.
        image_size: ``(height, width)`` of every image.
        seed: Seed the set was generated with.
        num_images: Images per split, e.g. ``{'train': 100, 'val': 20}``.
        num_instances: Object instances per split.
        img_dirs: Image folder per split.
    """

    root: Path
    classes: Tuple[str, ...]
    palette: Tuple[Tuple[int, int, int], ...]
    image_size: Tuple[int, int]
    seed: int
    num_images: Dict[str, int]
    num_instances: Dict[str, int]
    img_dirs: Dict[str, Path]

    def to_dict(self) -> dict:
        """A JSON-serialisable copy (paths as strings)."""
        return jsonable(self.__dict__)

    def _summary(self, title: str, about: List[str], per_split: Dict[str, str]) -> str:
        h, w = self.image_size
        lines = [f'{title} in {self.root}', *about,
                 f'  image size: {w}x{h} (WxH), seed {self.seed}']
        lines += [f'  {split}: {self.num_images[split]} images in {self.img_dirs[split]}, '
                  f'{where}' for split, where in per_split.items()]
        return '\n'.join(lines)


@dataclass(frozen=True)
class SyntheticCocoInfo(_SyntheticInfo):
    """What :func:`make_synthetic_coco` wrote (see :class:`_SyntheticInfo`); class
    ``classes[i]`` has COCO category id ``i + 1``, ``ann_files`` holds the COCO json file per
    split."""

    ann_files: Dict[str, Path]

    @classmethod
    def from_dict(cls, d: Dict[str, Any], root: PathLike) -> 'SyntheticCocoInfo':
        """Inverse of :meth:`to_dict`, with the paths moved under ``root`` (the set may have
        been made from another working directory)."""
        root = Path(root)

        def moved(path: str) -> Path:
            return root / Path(path).relative_to(d['root'])

        return cls(
            root=root,
            classes=tuple(d['classes']),
            palette=tuple(tuple(c) for c in d['palette']),
            image_size=tuple(d['image_size']),
            seed=int(d['seed']),
            num_images=dict(d['num_images']),
            num_instances=dict(d['num_instances']),
            img_dirs={k: moved(v) for k, v in d['img_dirs'].items()},
            ann_files={k: moved(v) for k, v in d['ann_files'].items()})

    @property
    def metainfo(self) -> dict:
        """``metainfo`` for mmdet's ``CocoDataset``."""
        return dict(classes=self.classes, palette=list(self.palette))

    def dataset_kwargs(self, split: str = 'train') -> dict:
        """Keyword arguments for ``mmdet.datasets.CocoDataset`` (add ``pipeline`` etc.)."""
        check_split(split)
        return dict(
            data_root=str(self.root),
            ann_file=self.ann_files[split].relative_to(self.root).as_posix(),
            data_prefix=dict(img=self.img_dirs[split].relative_to(self.root).as_posix() + '/'),
            metainfo=self.metainfo)

    def summary(self) -> str:
        """Human-readable description, as printed by the command line."""
        return self._summary(
            'synthetic COCO instance segmentation set',
            [f'  classes ({len(self.classes)}): {", ".join(self.classes)} (category ids '
             f'1..{len(self.classes)})'],
            {split: f'{self.num_instances[split]} instances in {self.ann_files[split]}'
             for split in self.num_images})


@dataclass(frozen=True)
class SyntheticAdeInfo(_SyntheticInfo):
    """What :func:`make_synthetic_ade` wrote (see :class:`_SyntheticInfo`).

    Label maps are single-channel uint8 PNGs in ADE20K's convention: value ``0`` is "other"
    (ignored, it becomes 255 under ``reduce_zero_label=True``) and value ``i + 1`` is
    ``classes[i]`` (the class names after ``reduce_zero_label``). With
    ``background_class=True`` the background is a real class (``classes[0] == 'background'``,
    value 1) and value 0 does not occur; otherwise the background has value 0 and is ignored
    in training and evaluation.

    Attributes:
        seg_dirs: Label-map folder per split.
        img_suffix: Suffix of the image files (``.jpg`` or ``.png``).
        seg_map_suffix: Suffix of the label maps (always ``.png``).
        reduce_zero_label: Always ``True``: the value mmseg's dataset must be given.
    """

    seg_dirs: Dict[str, Path]
    img_suffix: str = '.jpg'
    seg_map_suffix: str = '.png'
    reduce_zero_label: bool = True

    @property
    def metainfo(self) -> dict:
        """``metainfo`` for mmseg's ``BaseSegDataset``."""
        return dict(classes=self.classes, palette=[list(c) for c in self.palette])

    def dataset_kwargs(self, split: str = 'train') -> dict:
        """Keyword arguments for ``mmseg.datasets.BaseSegDataset`` (add ``pipeline`` etc.).

        Use ``BaseSegDataset`` (or a subclass without a fixed class list), not
        ``ADE20KDataset``, whose 150 fixed classes reject a different class list.
        """
        check_split(split)
        return dict(
            data_root=str(self.root),
            data_prefix=dict(
                img_path=self.img_dirs[split].relative_to(self.root).as_posix(),
                seg_map_path=self.seg_dirs[split].relative_to(self.root).as_posix()),
            img_suffix=self.img_suffix,
            seg_map_suffix=self.seg_map_suffix,
            reduce_zero_label=self.reduce_zero_label,
            metainfo=self.metainfo)

    def summary(self) -> str:
        """Human-readable description, as printed by the command line."""
        pairs = ', '.join(f'{i + 1}={c}' for i, c in enumerate(self.classes))
        other = ('0=other (unused)' if self.classes[0] == BACKGROUND_CLASS else
                 '0=background (ignored)')
        return self._summary(
            'synthetic ADE20K-style semantic segmentation set',
            [f'  classes ({len(self.classes)}): {", ".join(self.classes)}',
             f'  label values: {other}, {pairs}; use reduce_zero_label=True'],
            {split: f'label maps in {self.seg_dirs[split]}' for split in self.num_images})


def jsonable(obj):
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def check_split(split: str) -> None:
    if split not in SPLIT_CODES:
        raise ValueError(f'split must be one of {tuple(SPLIT_CODES)}, got {split!r}')
