"""The README's "timm and plain PyTorch" section does what it says: its torchvision Mask R-CNN
(torch, torchvision and timm only) and its mmdet Mask R-CNN through mmpretrain's
``TIMMBackbone`` build with the authors' file and run."""
import pytest
import torch

from mmrest.utils.packages import has_library, is_available
from tests.common import REPO
from tests.markdown import code_blocks, section
from tests.reference import write_authors_imagenet

README_SECTION = section((REPO / 'README.md').read_text(), 'timm and plain PyTorch')
AUTHORS_FILE = 'checkpoints/restv2_tiny_224.pth'
TINY = dict(embed_dims=(96, 192, 384, 768), depths=(1, 2, 6, 2), num_heads=(1, 2, 4, 8))

pytestmark = pytest.mark.skipif(not has_library('timm'), reason='needs timm (mmrest[timm])')


def snippet(marker: str) -> str:
    (text, ) = [b.text for b in code_blocks(README_SECTION)
                if b.language == 'python' and marker in b.text]
    assert AUTHORS_FILE in text
    return text


@pytest.fixture(scope='module')
def authors_file(tmp_path_factory):
    """The authors' restv2_tiny_224.pth, as published (tests/fixtures)."""
    path = tmp_path_factory.mktemp('checkpoints') / 'restv2_tiny_224.pth'
    return str(write_authors_imagenet(path, 'v2', TINY))


def test_torchvision_detector_on_the_timm_features(authors_file):
    pytest.importorskip('torchvision')
    scope = {}
    exec(snippet('torchvision.models.detection').replace(AUTHORS_FILE, authors_file), scope)
    detector = scope['detector']
    assert type(scope['body']).__name__ == 'FeatureGetterNet'
    # The authors' weights reached the features (their stem conv, as published).
    stem = dict(scope['body'].named_parameters())['model.stem.proj.0.weight']
    theirs = torch.load(authors_file, weights_only=True)['model']['stem.proj.0.weight']
    assert torch.equal(stem, theirs)
    detector.transform.min_size, detector.transform.max_size = (160, ), 192  # a small input
    detector.eval()
    with torch.no_grad():
        (result, ) = detector([torch.rand(3, 120, 150)])
        features = detector.backbone(torch.rand(1, 3, 128, 160))
    assert set(result) == {'boxes', 'labels', 'scores', 'masks'}
    assert list(features) == ['0', '1', '2', '3', 'pool']
    assert [tuple(f.shape[-2:]) for f in features.values()] == [(32, 40), (16, 20), (8, 10),
                                                                (4, 5), (2, 3)]


@pytest.mark.skipif(not (is_available('mmdet') and is_available('mmpretrain')),
                    reason='needs mmdet and mmpretrain (mmrest[det], mmrest[cls])')
def test_mmdet_mask_rcnn_through_timm_backbone(authors_file, tmp_path):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmrest  # noqa: F401  (the mmrest:: base config)
    config = tmp_path / 'mask_rcnn_timm.py'
    config.write_text(snippet('TIMMBackbone').replace(AUTHORS_FILE, authors_file))
    cfg = Config.fromfile(str(config))
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    backbone = detector.backbone
    assert type(backbone).__name__ == 'TIMMBackbone'
    stem = dict(backbone.named_parameters())['timm_model.model.stem.proj.0.weight']
    theirs = torch.load(authors_file, weights_only=True)['model']['stem.proj.0.weight']
    assert torch.equal(stem, theirs)  # init_weights left the pretrained weights alone
    rates = [m.drop_prob for m in backbone.modules() if type(m).__name__ == 'DropPath']
    assert rates[-1] == pytest.approx(0.1)
    detector.eval()
    with torch.no_grad():
        feats = detector.extract_feat(torch.randn(1, 3, 96, 128))
        data = detector.data_preprocessor(
            dict(inputs=[torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8)],
                 data_samples=[_sample(96, 128)]), False)
        (result, ) = detector(**data, mode='predict')
    assert [f.shape[1] for f in feats] == [256] * 5
    assert {'bboxes', 'scores', 'labels', 'masks'} <= set(result.pred_instances.keys())


def _sample(h: int, w: int):
    from mmdet.structures import DetDataSample
    sample = DetDataSample()
    sample.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0),
                             pad_shape=(h, w), batch_input_shape=(h, w)))
    return sample
