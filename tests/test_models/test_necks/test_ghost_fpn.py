import pytest
import torch
from mmdet.models.necks import FPN

from ghostdet.models import GhostFPN, GhostModule
from ghostdet.utils.registry import build_model
from tests.helpers import assert_exports_like_eager

IN_CHANNELS = [16, 24, 40, 96]
SIZES = [64, 32, 16, 8]


def inputs(batch=1, channels=IN_CHANNELS, sizes=SIZES):
    return [torch.rand(batch, c, s, s) for c, s in zip(channels, sizes)]


def test_registered_and_no_conv_module_left():
    neck = build_model(dict(type='GhostFPN', in_channels=IN_CHANNELS, out_channels=32,
                             num_outs=5, add_extra_convs='on_input'))
    assert isinstance(neck, GhostFPN) and isinstance(neck, FPN)
    assert all(isinstance(m, GhostModule) for m in neck.lateral_convs)
    assert all(isinstance(m, GhostModule) for m in neck.fpn_convs)
    assert len(neck.fpn_convs) == 5
    assert neck.fpn_convs[4].primary_conv[0].stride == (2, 2)
    assert neck.fpn_convs[0].primary_conv[0].kernel_size == (3, 3)
    assert neck.lateral_convs[0].primary_conv[0].kernel_size == (1, 1)


@pytest.mark.parametrize('start_level,end_level,num_outs,extra,expected_sizes', [
    (0, -1, 4, False, [64, 32, 16, 8]),
    (1, -1, 5, 'on_input', [32, 16, 8, 4, 2]),
    (1, -1, 5, 'on_lateral', [32, 16, 8, 4, 2]),
    (1, -1, 5, 'on_output', [32, 16, 8, 4, 2]),
    (1, -1, 5, True, [32, 16, 8, 4, 2]),
    (0, -1, 6, False, [64, 32, 16, 8, 4, 2]),
    (0, 2, 3, False, [64, 32, 16]),
    (1, 2, 2, False, [32, 16]),
])
def test_shapes_per_level(start_level, end_level, num_outs, extra, expected_sizes):
    neck = GhostFPN(IN_CHANNELS, 32, num_outs, start_level=start_level, end_level=end_level,
                    add_extra_convs=extra).eval()
    outs = neck(inputs(batch=2))
    assert [tuple(o.shape) for o in outs] == [(2, 32, s, s) for s in expected_sizes]


@pytest.mark.parametrize('ratio,dw_size', [(2, 3), (3, 5), (4, 1)])
def test_ghost_ratio_and_dw_size(ratio, dw_size):
    neck = GhostFPN(IN_CHANNELS, 30, 4, ghost_ratio=ratio, ghost_dw_size=dw_size)
    lateral = neck.lateral_convs[0]
    assert lateral.primary_conv[0].out_channels == -(-30 // ratio)
    assert lateral.cheap_operation[0].kernel_size == (dw_size, dw_size)
    assert [o.shape[1] for o in neck(inputs())] == [30] * 4


def test_same_outputs_as_fpn_interface_with_norm_act_and_scale_factor_upsample():
    neck = GhostFPN(IN_CHANNELS, 32, 5, add_extra_convs='on_output', relu_before_extra_convs=True,
                    norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'), no_norm_on_lateral=True,
                    upsample_cfg=dict(scale_factor=2, mode='nearest')).eval()
    assert len(neck.lateral_convs[0].primary_conv) == 2  # no norm on laterals: conv + act
    assert isinstance(neck.fpn_convs[0].primary_conv[1], torch.nn.BatchNorm2d)
    outs = neck(inputs())
    assert [o.shape[-1] for o in outs] == [64, 32, 16, 8, 4]


def test_exports_with_free_batch_and_input_size():
    """torch.export with the batch and the map sizes left free, as in RetinaNet (extra levels
    from the input). Like mmdet's FPN, it needs the last extra level above 1x1: h, w >= 5."""
    from torch.export import Dim
    batch, h, w = Dim('batch', min=1, max=32), Dim('h', min=5, max=64), Dim('w', min=5, max=64)
    neck = GhostFPN(IN_CHANNELS[1:], 32, num_outs=5, add_extra_convs='on_input')
    maps = lambda b, h, w: ([torch.rand(b, c, h * f, w * f)  # noqa: E731
                             for c, f in zip(IN_CHANNELS[1:], (4, 2, 1))],)
    assert_exports_like_eager(
        neck, maps(2, 8, 10), ([{0: batch, 2: f * h, 3: f * w} for f in (4, 2, 1)],),
        [maps(1, 5, 6), maps(3, 15, 20)])


def test_linear_by_default_like_fpn():
    neck = GhostFPN(IN_CHANNELS, 32, 4)
    assert not any(isinstance(m, torch.nn.ReLU) for m in neck.modules())
    assert neck.lateral_convs[0].primary_conv[0].bias is not None


def test_fewer_parameters_than_fpn():
    args = (IN_CHANNELS, 64, 5)
    ghost = sum(p.numel() for p in GhostFPN(*args, add_extra_convs='on_input').parameters())
    fpn = sum(p.numel() for p in FPN(*args, add_extra_convs='on_input').parameters())
    assert ghost < 0.6 * fpn


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=[]), 'in_channels'), (dict(in_channels=[16, 0]), 'in_channels'),
    (dict(start_level=4), 'start_level'), (dict(end_level=5), 'end_level'),
    (dict(num_outs=2), 'num_outs'), (dict(end_level=1, num_outs=4), 'num_outs'),
    (dict(add_extra_convs='on_top'), 'add_extra_convs'), (dict(ghost_ratio=1), 'ratio'),
])
def test_bad_arguments(kwargs, match):
    args = dict(in_channels=IN_CHANNELS, out_channels=32, num_outs=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        GhostFPN(**args)
