import pytest
import torch

from ghostdet.apis import build_detector, load_config, replace_backbone
from ghostdet.models import GhostNet, NeckChannelsMismatchError
from ghostdet.utils.config import resolve_config_path
from tests.helpers import REPO

RETINANET = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'


def test_load_config_copies_and_merges_options():
    cfg = load_config(RETINANET, {'model.neck.num_outs': 4})
    assert cfg.model.neck.num_outs == 4
    again = load_config(cfg, {'model.neck.num_outs': 3})
    assert again.model.neck.num_outs == 3 and cfg.model.neck.num_outs == 4


def test_load_config_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'^config file not found: {tmp_path}/a.py$'):
        load_config(tmp_path / 'a.py')
    path = resolve_config_path('mmdet::retinanet/nope.py')
    with pytest.raises(FileNotFoundError) as error:  # the looked-up file is named too
        load_config('mmdet::retinanet/nope.py')
    assert str(error.value) == f'config file not found: mmdet::retinanet/nope.py ({path})'


def test_replace_backbone_sets_neck_in_channels():
    cfg = replace_backbone(
        RETINANET, dict(type='GhostNet', widen_factor=1.3, out_indices=(1, 2, 4)),
        neck_type='GhostFPN')
    assert dict(cfg.model.backbone) == dict(type='GhostNet', widen_factor=1.3,
                                            out_indices=(1, 2, 4))
    assert cfg.model.neck.in_channels == list(GhostNet(1.3, out_indices=(1, 2, 4)).out_channels)
    assert cfg.model.neck.type == 'GhostFPN'
    # same type: the given keys override, the others stay
    cfg2 = replace_backbone(cfg, dict(widen_factor=0.5))
    assert cfg2.model.backbone.widen_factor == 0.5
    assert tuple(cfg2.model.backbone.out_indices) == (1, 2, 4)
    assert cfg2.model.neck.in_channels == list(GhostNet(0.5, out_indices=(1, 2, 4)).out_channels)
    assert cfg.model.backbone.widen_factor == 1.3


def test_replace_backbone_under_another_default_scope():
    # a Runner earlier in the process may leave another scope current (as tests/test_apis does)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmengine'):
        cfg = replace_backbone(RETINANET, dict(type='GhostNet', out_indices=(2, 3, 4)))
    assert cfg.model.neck.in_channels == list(GhostNet(out_indices=(2, 3, 4)).out_channels)


def test_build_detector_loads_all_of_a_checkpoint_or_refuses_it(tmp_path):
    """mmengine's load_checkpoint (used before) loaded what matched and warned: a benchmark or
    a study measurement with another architecture's checkpoint timed a half-random model."""
    from ghostdet.models.utils import CheckpointMismatchError
    quickstart = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'
    source = build_detector(quickstart)
    for p in source.parameters():
        p.data.uniform_(-1, 1)
    checkpoint = tmp_path / 'quickstart.pth'
    torch.save({'state_dict': {f'module.{k}': v for k, v in source.state_dict().items()},
                'meta': {}}, checkpoint)  # DDP-prefixed, as a distributed run saves them
    loaded = build_detector(quickstart, checkpoint=str(checkpoint))
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                 source.state_dict().values()))
    coco = REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py'
    with pytest.raises(CheckpointMismatchError,
                       match=r'quickstart\.pth does not match RetinaNet .*\n  missing from '
                             r'the checkpoint \(8\).*\n  shape mismatch \(27\)'):
        build_detector(coco, checkpoint=str(checkpoint))
    torch.save(torch.zeros(2), tmp_path / 'tensor.pth')
    with pytest.raises(CheckpointMismatchError, match='tensor.pth holds a Tensor, not a state'):
        build_detector(quickstart, checkpoint=str(tmp_path / 'tensor.pth'))


def test_build_detector_times_and_counts_ghostnet_v3_deployed():
    """benchmark.py, get_flops.py and the comparisons build through here: a GhostNetV3
    detector comes folded, without its training branches."""
    config = REPO / 'configs/ghostnet/retinanet_ghostnet-v3-1.0x_fpn_1x_coco.py'
    model = build_detector(config)
    assert not [k for k in model.state_dict() if '_rpr_' in k]
    assert 'backbone.blocks.1.0.conv_dw.bias' in model.state_dict()


def test_build_detector_names_a_neck_that_does_not_fit_the_backbone():
    """What get_flops, benchmark and the other analysis tools build with."""
    with pytest.raises(NeckChannelsMismatchError, match=r'set model.neck.in_channels=\[40, '):
        build_detector(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py',
                       {'model.neck.in_channels': [24, 40, 112]})
