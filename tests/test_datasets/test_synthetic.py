"""Tests for the synthetic COCO / ADE20K-style shape datasets (mmrest.datasets.synthetic)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmrest.datasets import synthetic
from mmrest.datasets.synthetic import (
    BACKGROUND_CLASS,
    DEFAULT_CLASSES,
    SUPPORTED_SHAPES,
    make_synthetic_ade,
    make_synthetic_coco,
)

SIZE = (96, 128)  # small but realistic enough: every shape type fits with room to overlap


def _files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco')
    return make_synthetic_coco(root, num_train=8, num_val=3, image_size=(256, 320), seed=3)


@pytest.fixture(scope='module')
def ade(tmp_path_factory):
    root = tmp_path_factory.mktemp('ade')
    return make_synthetic_ade(root, num_train=8, num_val=3, image_size=(256, 320), seed=3)


# ------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize('maker', [make_synthetic_coco, make_synthetic_ade])
def test_deterministic(tmp_path, maker):
    kwargs = dict(num_train=4, num_val=2, image_size=SIZE, seed=7)
    a = _files(maker(tmp_path / 'a', **kwargs).root)
    b = _files(maker(tmp_path / 'b', **kwargs).root)
    assert a.keys() == b.keys() and len(a) > 0
    assert all(a[k] == b[k] for k in a), 'same arguments must write the same bytes'
    c = _files(maker(tmp_path / 'c', **{**kwargs, 'seed': 8}).root)
    images = [k for k in a if k.endswith('.jpg')]
    assert all(a[k] != c[k] for k in images), 'another seed must give other images'


def test_images_do_not_depend_on_count(tmp_path):
    small = make_synthetic_coco(tmp_path / 's', num_train=2, num_val=1, image_size=SIZE)
    large = make_synthetic_coco(tmp_path / 'l', num_train=5, num_val=1, image_size=SIZE)
    for name in ('000000.jpg', '000001.jpg'):
        assert ((small.img_dirs['train'] / name).read_bytes() ==
                (large.img_dirs['train'] / name).read_bytes())


def test_coco_and_ade_draw_the_same_scenes(tmp_path):
    kwargs = dict(num_train=2, num_val=1, image_size=SIZE, seed=5)
    c = make_synthetic_coco(tmp_path / 'coco', **kwargs)
    a = make_synthetic_ade(tmp_path / 'ade', **kwargs)
    for split in ('train', 'val'):
        for p in c.img_dirs[split].iterdir():
            assert p.read_bytes() == (a.img_dirs[split] / p.name).read_bytes()


# ------------------------------------------------------------------------------------- COCO
def test_coco_layout_and_json(coco):
    root = coco.root
    assert coco.classes == DEFAULT_CLASSES
    assert coco.num_images == {'train': 8, 'val': 3}
    for split in ('train', 'val'):
        data = json.loads((root / 'annotations' / f'instances_{split}.json').read_text())
        assert [c['id'] for c in data['categories']] == [1, 2, 3]
        assert [c['name'] for c in data['categories']] == list(DEFAULT_CLASSES)
        assert len(data['images']) == coco.num_images[split]
        assert len(data['annotations']) == coco.num_instances[split]
        assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])
        per_image = {img['id']: 0 for img in data['images']}
        for img in data['images']:
            arr = cv2.imread(str(root / split / img['file_name']))
            assert arr is not None
            assert arr.shape == (img['height'], img['width'], 3) == (256, 320, 3)
        for ann in data['annotations']:
            per_image[ann['image_id']] += 1
            x, y, w, h = ann['bbox']
            assert w >= 1 and h >= 1 and x >= 0 and y >= 0 and x + w <= 320 and y + h <= 256
            assert ann['iscrowd'] == 0 and ann['area'] > 0 and 1 <= ann['category_id'] <= 3
            assert ann['segmentation'], 'every object has at least one polygon'
            for poly in ann['segmentation']:
                assert len(poly) >= 6 and len(poly) % 2 == 0
                xs, ys = np.array(poly[0::2]), np.array(poly[1::2])
                assert xs.min() >= x and xs.max() <= x + w and ys.min() >= y and ys.max() <= y + h
        assert all(1 <= n <= 4 for n in per_image.values()), per_image


def test_coco_masks_with_pycocotools(coco):
    pytest.importorskip('pycocotools')
    from pycocotools.coco import COCO

    api = COCO(str(coco.ann_files['train']))
    assert sorted(api.getCatIds()) == [1, 2, 3]
    assert [c['name'] for c in api.loadCats(api.getCatIds())] == list(DEFAULT_CLASSES)
    for img_id in api.getImgIds():
        anns = api.loadAnns(api.getAnnIds(imgIds=img_id))
        owner = np.zeros((256, 320), np.int32)
        for ann in anns:
            mask = api.annToMask(ann).astype(bool)
            assert mask.sum() > 0
            # polygons decode to the visible mask: same pixel count and same tight box
            assert abs(int(mask.sum()) - ann['area']) <= 0.01 * ann['area']
            ys, xs = np.nonzero(mask)
            box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            np.testing.assert_allclose(box, ann['bbox'], atol=1)
            # occlusion: visible parts of different objects never share pixels
            assert not (owner[mask] > 0).any()
            owner[mask] = ann['id']


def test_ade_labels_match_coco_masks(tmp_path):
    pytest.importorskip('pycocotools')
    from pycocotools.coco import COCO

    kwargs = dict(num_train=3, num_val=1, image_size=SIZE, seed=11)
    c = make_synthetic_coco(tmp_path / 'coco', **kwargs)
    a = make_synthetic_ade(tmp_path / 'ade', **kwargs)
    api = COCO(str(c.ann_files['train']))
    for img in api.loadImgs(api.getImgIds()):
        expected = np.ones(SIZE, np.uint8)  # background is class 'background' = value 1
        for ann in api.loadAnns(api.getAnnIds(imgIds=img['id'])):
            expected[api.annToMask(ann).astype(bool)] = ann['category_id'] + 1
        stem = Path(img['file_name']).stem
        seg = cv2.imread(str(a.seg_dirs['train'] / f'{stem}.png'), cv2.IMREAD_UNCHANGED)
        assert (seg == expected).mean() > 0.999


# -------------------------------------------------------------------------------------- ADE
def test_ade_layout(ade):
    root = ade.root
    assert ade.classes == (BACKGROUND_CLASS, ) + DEFAULT_CLASSES
    assert len(ade.palette) == len(ade.classes)
    assert ade.reduce_zero_label
    for split, folder in (('train', 'training'), ('val', 'validation')):
        images = sorted((root / 'images' / folder).glob('*.jpg'))
        labels = sorted((root / 'annotations' / folder).glob('*.png'))
        assert len(images) == ade.num_images[split]
        assert [p.stem for p in images] == [p.stem for p in labels]
        for img_path, seg_path in zip(images, labels):
            img = cv2.imread(str(img_path))
            seg = cv2.imread(str(seg_path), cv2.IMREAD_UNCHANGED)
            assert img.shape == (256, 320, 3)
            assert seg.dtype == np.uint8 and seg.shape == (256, 320)
            values = set(np.unique(seg).tolist())
            assert 1 in values and values <= {1, 2, 3, 4}, values
            assert len(values) >= 2, 'every image shows at least one object'


def test_ade_background_as_other(tmp_path):
    info = make_synthetic_ade(tmp_path, num_train=2, num_val=1, image_size=SIZE,
                              classes=('star', 'ellipse'), background_class=False)
    assert info.classes == ('star', 'ellipse')
    seg = cv2.imread(str(info.seg_dirs['train'] / '000000.png'), cv2.IMREAD_UNCHANGED)
    values = set(np.unique(seg).tolist())
    assert 0 in values and values <= {0, 1, 2}
    assert 'background (ignored)' in info.summary()


# ------------------------------------------------------------------------------- arguments
BAD_ARGS = [
    dict(num_train=0),
    dict(num_val=-1),
    dict(num_train=2.5),
    dict(image_size=(16, 320)),
    dict(image_size=(256, 8)),
    dict(image_size=(256, )),
    dict(image_size='256x320'),
    dict(seed=-1),
    dict(classes=('hexagon', )),
    dict(classes=()),
    dict(classes='circle'),
    dict(classes=('circle', 'circle')),
    dict(num_objects=(0, 2)),
    dict(num_objects=(3, 2)),
    dict(size_range=(0.5, 0.2)),
    dict(size_range=(0.0, 0.2)),
    dict(img_ext='.bmp'),
]


@pytest.mark.parametrize('maker', [make_synthetic_coco, make_synthetic_ade])
@pytest.mark.parametrize('bad', BAD_ARGS, ids=lambda d: next(iter(d)))
def test_bad_arguments(tmp_path, maker, bad):
    kwargs = dict(num_train=1, num_val=1, image_size=SIZE)
    with pytest.raises(ValueError):
        maker(tmp_path / 'out', **{**kwargs, **bad})
    assert not (tmp_path / 'out').exists(), 'nothing is written for bad arguments'


def test_existing_output_needs_overwrite(tmp_path):
    make_synthetic_ade(tmp_path, num_train=3, num_val=1, image_size=SIZE)
    with pytest.raises(FileExistsError):
        make_synthetic_ade(tmp_path, num_train=1, num_val=1, image_size=SIZE)
    info = make_synthetic_ade(tmp_path, num_train=1, num_val=1, image_size=SIZE, overwrite=True)
    # stale files of the larger run are gone (mmseg lists the folders, not a json)
    assert len(list(info.img_dirs['train'].iterdir())) == 1
    assert len(list(info.seg_dirs['train'].iterdir())) == 1
    # COCO and ADE outputs do not collide, so both can share one root
    make_synthetic_coco(tmp_path, num_train=1, num_val=1, image_size=SIZE)


def test_other_shapes_and_png(tmp_path):
    info = make_synthetic_coco(tmp_path, num_train=4, num_val=1, image_size=64,
                               classes=SUPPORTED_SHAPES, num_objects=(2, 6), img_ext='.png')
    assert info.image_size == (64, 64)
    assert sorted(p.name for p in info.img_dirs['val'].iterdir()) == ['000000.png']
    data = json.loads(info.ann_files['train'].read_text())
    assert [c['name'] for c in data['categories']] == list(SUPPORTED_SHAPES)
    assert data['annotations']


# ------------------------------------------------------------------------------ public API
def test_package_exports_and_info(coco):
    import mmrest.datasets as datasets

    assert datasets.make_synthetic_coco is make_synthetic_coco
    assert set(datasets.__all__) <= set(synthetic.__all__)
    kwargs = coco.dataset_kwargs('val')
    assert kwargs['ann_file'] == 'annotations/instances_val.json'
    assert kwargs['data_prefix'] == dict(img='val/')
    assert kwargs['metainfo']['classes'] == DEFAULT_CLASSES
    json.dumps(coco.to_dict())
    with pytest.raises(ValueError):
        coco.dataset_kwargs('test')


def test_cli(tmp_path, capsys):
    assert synthetic.main(['coco', str(tmp_path / 'c'), '--num-train', '2', '--num-val', '1',
                           '--size', '64x96', '--seed', '1']) == 0
    out = capsys.readouterr().out
    assert 'train: 2 images' in out and '64x96' in out
    assert synthetic.main(['ade', str(tmp_path / 'a'), '--num-train', '1', '--num-val', '1',
                           '--size', '64', '--json']) == 0
    described = json.loads(capsys.readouterr().out)
    assert described['classes'] == [BACKGROUND_CLASS, *DEFAULT_CLASSES]
    assert synthetic.main(['coco', str(tmp_path / 'bad'), '--num-train', '0']) == 2
    assert 'num_train' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        synthetic.main(['coco', str(tmp_path / 'bad'), '--size', 'big'])


# -------------------------------------------------------------------- OpenMMLab datasets
def test_mmdet_coco_dataset_loads(coco):
    pytest.importorskip('mmdet')
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations

    pipeline = [LoadImageFromFile(), LoadAnnotations(with_bbox=True, with_mask=True)]
    dataset = CocoDataset(**coco.dataset_kwargs('train'), pipeline=pipeline)
    assert len(dataset) == coco.num_images['train']
    assert dataset.metainfo['classes'] == DEFAULT_CLASSES
    num = 0
    for i in range(len(dataset)):
        results = dataset[i]
        assert results['img'].shape == (256, 320, 3)
        boxes, masks = results['gt_bboxes'], results['gt_masks']
        assert len(boxes) == len(masks) == len(results['gt_bboxes_labels']) >= 1
        assert set(results['gt_bboxes_labels'].tolist()) <= {0, 1, 2}
        assert not results['gt_ignore_flags'].any()
        assert (masks.areas > 0).all()
        num += len(boxes)
    assert num == coco.num_instances['train']


def test_mmseg_base_dataset_loads(ade):
    pytest.importorskip('mmseg')
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets import BaseSegDataset
    from mmseg.datasets.transforms import LoadAnnotations

    dataset = BaseSegDataset(**ade.dataset_kwargs('val'),
                             pipeline=[LoadImageFromFile(), LoadAnnotations()])
    assert len(dataset) == ade.num_images['val']
    assert dataset.metainfo['classes'] == ade.classes
    for i in range(len(dataset)):
        results = dataset[i]
        assert results['img'].shape == (256, 320, 3)
        seg = results['gt_seg_map']
        # reduce_zero_label: values 1..K become 0..K-1 ('background' is 0)
        assert set(np.unique(seg).tolist()) <= set(range(len(ade.classes)))
        assert (seg == 0).any()
