import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ghostdet.apis import build_detector
from ghostdet.models import (DetectorNetwork, fuse_conv_bn, randomize_batchnorm,
                             relative_difference, unshare_convolutions)
from tests.helpers import REPO


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




class SharedConvLevels(nn.Module):
    """One convolution applied at two levels, each level with its own BatchNorm, as mmdet's
    RTMDetSepBNHead shares its convolutions across pyramid levels."""

    def __init__(self):
        super().__init__()
        conv = nn.Conv2d(4, 4, 3, padding=1)
        self.levels = nn.ModuleList(
            nn.Sequential(conv, nn.BatchNorm2d(4)) for _ in range(2))

    def forward(self, x):
        return tuple(level(x) for level in self.levels)


def test_fuse_conv_bn_folds_a_convolution_shared_by_levels_with_their_own_batchnorms():
    model = randomize_batchnorm(SharedConvLevels()).eval()
    assert model.levels[0][0] is model.levels[1][0]
    img = torch.rand(2, 4, 8, 8)
    fused, folded, diff = fuse_conv_bn(model, img)
    assert folded == 2 and diff < 1e-5
    assert fused.levels[0][0] is not fused.levels[1][0]
    assert model.levels[0][0] is model.levels[1][0]  # the model itself keeps its sharing
    with torch.no_grad():
        for want, got in zip(model(img), fused(img)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_unshare_convolutions_copies_each_shared_convolution_once_per_extra_parent():
    model = SharedConvLevels()
    assert unshare_convolutions(model) == 1
    assert unshare_convolutions(model) == 0
    first, second = model.levels[0][0], model.levels[1][0]
    assert first is not second and torch.equal(first.weight, second.weight)


def test_full_fp32_turns_tf32_off_for_the_block_and_restores_it():
    from ghostdet.models.fuse import full_fp32
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with pytest.raises(KeyError):
            with full_fp32():
                assert not torch.backends.cudnn.allow_tf32
                assert not torch.backends.cuda.matmul.allow_tf32
                raise KeyError('restored also after an error')
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
