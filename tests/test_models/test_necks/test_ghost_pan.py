import pytest
import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule

from ghostdet.models import GhostBlocks, GhostBottleneck, GhostModule, GhostPAN
from ghostdet.models.layers import ghost_module
from ghostdet.utils.registry import build_model
from tests.helpers import assert_exports_like_eager

IN_CHANNELS = [40, 112, 960]


def inputs(batch=1, channels=IN_CHANNELS, height=40, width=48):
    """Maps halving in size level by level (rounding up, as stride-2 convs do)."""
    return [torch.rand(batch, c, -(-height // 2**i), -(-width // 2**i))
            for i, c in enumerate(channels)]


def test_registered_and_built_from_the_shared_ghost_bottleneck():
    neck = build_model(dict(type='GhostPAN', in_channels=IN_CHANNELS, out_channels=32))
    assert isinstance(neck, GhostPAN)
    blocks = list(neck.top_down_blocks) + list(neck.bottom_up_blocks)
    assert len(blocks) == 4 and all(isinstance(b, GhostBlocks) for b in blocks)
    bottlenecks = [m for m in neck.modules() if isinstance(m, GhostBottleneck)]
    assert len(bottlenecks) == 4
    # the one Ghost module of the package, not a copy
    assert all(type(m) is ghost_module.GhostBottleneck for m in bottlenecks)
    assert all(type(m.ghost1) is ghost_module.GhostModule for m in bottlenecks)
    # fusion blocks take two levels and give one
    first = blocks[0].blocks[0]
    assert first.ghost1.primary_conv[0].in_channels == 64
    assert first.ghost2.out_channels == 32


@pytest.mark.parametrize('num_extra_level', [0, 1, 2])
def test_shapes_per_level_and_extra_levels(num_extra_level):
    neck = GhostPAN(IN_CHANNELS, 48, num_extra_level=num_extra_level).eval()
    outs = neck(inputs(batch=2))
    expected = [(40, 48), (20, 24), (10, 12), (5, 6), (3, 3)][:3 + num_extra_level]
    assert [tuple(o.shape) for o in outs] == [(2, 48, h, w) for h, w in expected]
    assert neck.num_outs == len(outs)


def test_two_and_four_input_levels():
    two = GhostPAN([24, 40], 16).eval()
    outs = two(inputs(channels=[24, 40], height=16, width=19))
    assert [tuple(o.shape[2:]) for o in outs] == [(16, 19), (8, 10)]
    four = GhostPAN([16, 24, 40, 96], 16).eval()
    outs = four(inputs(channels=[16, 24, 40, 96], height=32, width=38))
    assert [tuple(o.shape[1:]) for o in outs] == [(16, 32, 38), (16, 16, 19), (16, 8, 10),
                                                  (16, 4, 5)]


def test_paths_connect_every_level():
    """Top-down then bottom-up: the finest output depends on the coarsest input, and the
    coarsest output on the finest input."""
    neck = GhostPAN(IN_CHANNELS, 16).eval()
    feats = [x.requires_grad_() for x in inputs()]
    outs = neck(feats)
    (grad_coarse, ) = torch.autograd.grad(outs[0].sum(), feats[-1], retain_graph=True)
    (grad_fine, ) = torch.autograd.grad(outs[-1].sum(), feats[0])
    assert grad_coarse.abs().sum() > 0 and grad_fine.abs().sum() > 0


def test_downsampling_is_depthwise():
    neck = GhostPAN(IN_CHANNELS, 32, kernel_size=3, num_extra_level=1)
    for down in list(neck.downsamples) + list(neck.extra_lvl_in_conv):
        assert isinstance(down, DepthwiseSeparableConvModule)
        dw = down.depthwise_conv.conv
        assert (dw.groups, dw.stride, dw.kernel_size) == (32, (2, 2), (3, 3))
    assert len(neck.downsamples) == 2 and len(neck.extra_lvl_out_conv) == 1


def test_blocks_expand_ratio_res_and_ghost_settings():
    neck = GhostPAN(IN_CHANNELS, 32, num_blocks=2, expand_ratio=1.5, use_res=True,
                    ghost_ratio=4, ghost_dw_size=5, kernel_size=7)
    block = neck.bottom_up_blocks[1]
    assert len(block.blocks) == 2
    first, second = block.blocks
    assert first.ghost1.out_channels == 48 and second.ghost1.primary_conv[0].in_channels == 32
    assert first.ghost1.primary_conv[0].out_channels == 12  # 48 / ratio 4
    assert first.ghost1.cheap_operation[0].kernel_size == (5, 5)
    assert first.shortcut[0].kernel_size == (7, 7)
    assert block.reduce_conv is not None and block.reduce_conv.conv.in_channels == 64
    assert [o.shape[1] for o in neck.eval()(inputs())] == [32] * 3


def test_norm_and_act_cfg():
    neck = GhostPAN(IN_CHANNELS, 16, norm_cfg=dict(type='GN', num_groups=4),
                    act_cfg=dict(type='ReLU6'))
    kinds = {type(m) for m in neck.modules()}
    assert nn.GroupNorm in kinds and nn.ReLU6 in kinds
    assert nn.BatchNorm2d not in kinds and nn.LeakyReLU not in kinds
    assert isinstance(neck.reduce_layers[0].norm, nn.GroupNorm)
    default = GhostPAN(IN_CHANNELS, 16)
    assert isinstance(default.reduce_layers[0].activate, nn.LeakyReLU)
    assert default.reduce_layers[0].activate.negative_slope == 0.1


def test_upsample_by_scale_factor_or_to_the_finer_size():
    by_size = GhostPAN([8, 8], 8, upsample_cfg=dict(mode='nearest')).eval()
    odd = [torch.rand(1, 8, 11, 13), torch.rand(1, 8, 6, 7)]  # 6x7 upsampled to 11x13
    assert [tuple(o.shape[2:]) for o in by_size(odd)] == [(11, 13), (6, 7)]
    by_factor = GhostPAN([8, 8], 8, upsample_cfg=dict(scale_factor=2, mode='nearest')).eval()
    with pytest.raises(RuntimeError):  # 12x14 cannot be concatenated with 11x13
        by_factor(odd)


def test_fewer_macs_than_mmdet_cspnext_pafpn_at_the_same_width():
    from mmdet.models.necks import CSPNeXtPAFPN

    from ghostdet.analysis import count_paper_macs
    feats = inputs()
    ghost = count_paper_macs(GhostPAN(IN_CHANNELS, 96).eval(), (feats, ))[0]
    csp = count_paper_macs(CSPNeXtPAFPN(IN_CHANNELS, 96, num_csp_blocks=1).eval(),
                           (feats, ))[0]
    assert ghost < 0.5 * csp


def test_exports_with_free_batch_and_input_size():
    """torch.export with the batch and the map sizes left free (maps of strides 8, 16, 32 of
    one image, and an extra level). Like mmdet's FPN, it needs the extra level above 1x1: the
    stride-32 map at least 3x3 (an image of 96x96 or more)."""
    from torch.export import Dim
    batch, h, w = Dim('batch', min=1, max=8), Dim('h', min=3, max=32), Dim('w', min=3, max=32)
    neck = GhostPAN(IN_CHANNELS, 16, num_extra_level=1)
    maps = lambda b, h, w: ([torch.rand(b, c, h * f, w * f)  # noqa: E731
                             for c, f in zip(IN_CHANNELS, (4, 2, 1))],)
    assert_exports_like_eager(
        neck, maps(2, 4, 5), ([{0: batch, 2: f * h, 3: f * w} for f in (4, 2, 1)],),
        [maps(1, 3, 4), maps(3, 8, 11)])


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=[]), 'in_channels'), (dict(in_channels=[16, 0]), 'in_channels'),
    (dict(out_channels=0), 'out_channels'), (dict(num_extra_level=-1), 'num_extra_level'),
    (dict(kernel_size=4), 'kernel_size'), (dict(num_blocks=0), 'num_blocks'),
    (dict(expand_ratio=0.01), 'expand_ratio'), (dict(ghost_ratio=1), 'ratio'),
])
def test_bad_arguments(kwargs, match):
    args = dict(in_channels=IN_CHANNELS, out_channels=32)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        GhostPAN(**args)


def test_wrong_number_of_inputs_is_named():
    with pytest.raises(ValueError, match='3 feature maps but was built for 2'):
        GhostPAN([40, 112], 16)(inputs())


def test_ghost_blocks_residual_adds_the_reduced_input():
    block = GhostBlocks(8, 4, use_res=True).eval()
    x = torch.rand(1, 8, 5, 5)
    torch.testing.assert_close(block(x), block.blocks(x) + block.reduce_conv(x))
    assert GhostBlocks(8, 4).reduce_conv is None
    assert isinstance(GhostBlocks(8, 4).blocks[0].ghost2, GhostModule)
