import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ghostdet.analysis import (DetectorNetwork, build_detector, fuse_conv_bn, load_config,
                               randomize_batchnorm, replace_backbone, synthetic_batch)
from ghostdet.utils.config import resolve_config_path
from ghostdet.models import GhostNet, NeckChannelsMismatchError
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


def test_build_our_config_and_synthetic_batch():
    model = build_detector(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py')
    assert type(model).__name__ == 'RetinaNet' and not model.training
    inputs, samples = synthetic_batch(model, (50, 70), batch_size=2)
    assert inputs.shape == (2, 3, 64, 96)
    assert samples[0].img_shape == (50, 70) and samples[1].batch_input_shape == (64, 96)
    with torch.no_grad():
        results = model.predict(inputs, samples)
    assert len(results) == 2
    assert synthetic_batch(model, (50, 70), pad=False)[0].shape == (1, 3, 50, 70)
    with pytest.raises(ValueError):
        synthetic_batch(model, (50, 70), batch_size=0)


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


def test_detector_network_runs_roi_head_on_fixed_rois():
    model = build_detector('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    network = DetectorNetwork(model, num_proposals=7)
    img = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        outs = network(img)
    # RPN: 5 levels x (scores, deltas), then the RoI head's scores and deltas for 2 x 7 RoIs
    assert len(outs) == 12
    assert outs[-2].shape == (14, 81) and outs[-1].shape == (14, 320)
    rois = network.rois(img)
    assert rois.shape == (14, 5) and rois[:7, 0].eq(0).all() and rois[7:, 0].eq(1).all()
    assert torch.equal(rois[:7, 1:], rois[7:, 1:]) and network.rois(img) is rois
    with pytest.raises(ValueError):
        DetectorNetwork(model, num_proposals=0)


def test_detector_network_one_stage():
    model = build_detector(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py')
    with torch.no_grad():
        outs = DetectorNetwork(model)(torch.rand(1, 3, 64, 64))
    assert len(outs) == 10  # 5 levels x (cls_score, bbox_pred), no RoI head
    assert outs[0].shape[1] == 9 * 80


@pytest.mark.parametrize('config', ['faster-rcnn_ghostnet-1.0x_ghost-fpn_1x_coco.py',
                                    'retinanet_ghostnet-1.1x_fpn_1x_coco.py'])
def test_fuse_conv_bn_folds_every_batchnorm_and_keeps_the_outputs(config):
    model = randomize_batchnorm(build_detector(REPO / 'configs/ghostnet' / config))
    norms = sum(isinstance(m, _BatchNorm) for m in model.modules())
    img = torch.rand(1, 3, 64, 96)
    fused, folded, diff = fuse_conv_bn(model, img)
    assert folded == norms > 50  # every Ghost module's and block's BatchNorm
    assert not any(isinstance(m, _BatchNorm) for m in fused.modules())
    assert sum(isinstance(m, _BatchNorm) for m in model.modules()) == norms  # a copy
    assert 0 < diff < 1e-4
    with torch.no_grad():
        before = DetectorNetwork(model, 100)(img)
        after = DetectorNetwork(fused, 100)(img)
    assert len(before) == len(after) >= 10  # 5 levels x (scores, deltas) [+ RoI head]
    for b, a in zip(before, after):
        assert torch.allclose(b, a, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


class NormBeforeConv(nn.Module):
    """Registered conv then norm, as mmcv's folding expects, but applied the other way round."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.conv(self.bn(x))


def test_fuse_conv_bn_refuses_a_fold_that_changes_the_outputs():
    # fresh statistics, which fold to a near identity (a wrong fold changes the outputs by
    # ~5e-6 of their magnitude): the check's own random statistics still catch it
    model = NormBeforeConv().eval()
    with pytest.raises(ValueError, match='changes the outputs by up to .* of their magnitude'):
        fuse_conv_bn(model, torch.rand(2, 4, 8, 8))
    assert model.bn.running_var.eq(1).all()  # the model itself is left as it was
    # registered and applied in the same order, the same layers fold
    model.forward = lambda x: model.bn(model.conv(x))
    fused, folded, diff = fuse_conv_bn(model, torch.rand(2, 4, 8, 8))
    assert folded == 1 and diff < 1e-5
    assert isinstance(fused.bn, nn.Identity) and isinstance(model.bn, nn.BatchNorm2d)


def test_randomize_batchnorm_is_seeded_and_in_range():
    a, b = (randomize_batchnorm(nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8)), seed=3)
            for _ in range(2))
    assert torch.equal(a[1].running_var, b[1].running_var)
    assert torch.equal(a[1].bias, b[1].bias)
    assert a[1].running_var.min() >= 0.5 and a[1].running_var.max() <= 2.0
    assert a[1].running_mean.abs().max() <= 0.5 and a[1].weight.min() >= 0.5


def test_relative_difference_is_per_output_and_names_a_shape_mismatch():
    from ghostdet.analysis import relative_difference
    big, small, zero = torch.full((2, 3), 100.0), torch.full((4, ), 0.5), torch.zeros(2)
    # 1 off in 100, 0.1 off in 0.5, 0.01 off where the expected output is 0 (absolute)
    got = (big + 1, small + 0.1, zero + 0.01)
    assert relative_difference((big, small, zero), got) == pytest.approx(0.2)
    assert relative_difference((big, ), (big + 1, )) == pytest.approx(0.01)
    assert relative_difference((zero, ), (zero + 0.01, )) == pytest.approx(0.01)
    with pytest.raises(ValueError, match=r'an output shaped \(3,\), expected \(4,\)'):
        relative_difference((small, ), (torch.zeros(3), ))
    with pytest.raises(ValueError, match='1 outputs, expected 2'):
        relative_difference((big, small), (big, ))


def test_build_detector_names_a_neck_that_does_not_fit_the_backbone():
    """What get_flops, benchmark and the other analysis tools build with."""
    with pytest.raises(NeckChannelsMismatchError, match=r'set model.neck.in_channels=\[40, '):
        build_detector(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py',
                       {'model.neck.in_channels': [24, 40, 112]})
