import math

import pytest
import torch
import torch.nn as nn

from ghostdet.models.layers import GhostBottleneck, GhostModule, SqueezeExcite


@pytest.mark.parametrize('out_channels', [1, 5, 16, 37, 111])
@pytest.mark.parametrize('ratio', [2, 3, 4, 5])
def test_ghost_module_any_width_and_ratio(out_channels, ratio):
    m = GhostModule(7, out_channels, ratio=ratio)
    init = math.ceil(out_channels / ratio)
    assert m.primary_conv[0].out_channels == init
    assert m.cheap_operation[0].out_channels == init * (ratio - 1)
    assert m.cheap_operation[0].groups == init
    assert m(torch.rand(2, 7, 9, 11)).shape == (2, out_channels, 9, 11)


def test_ghost_module_output_is_intrinsic_then_ghosts():
    m = GhostModule(4, 6, ratio=3, act_cfg=None).eval()
    x = torch.rand(1, 4, 5, 5)
    intrinsic = m.primary_conv(x)
    out = m(x)
    assert torch.equal(out[:, :2], intrinsic)
    assert torch.equal(out[:, 2:], m.cheap_operation(intrinsic))


def test_ghost_module_kernel_stride_dw_size():
    m = GhostModule(8, 16, kernel_size=3, stride=2, dw_size=5)
    assert m.primary_conv[0].kernel_size == (3, 3)
    assert m.cheap_operation[0].kernel_size == (5, 5)
    assert m.cheap_operation[0].padding == (2, 2)
    assert m(torch.rand(1, 8, 15, 16)).shape == (1, 16, 8, 8)


def test_ghost_module_norm_and_act_configurable():
    linear = GhostModule(4, 8, act_cfg=None)
    assert not any(isinstance(x, nn.ReLU) for x in linear.modules())
    gn = GhostModule(4, 8, norm_cfg=dict(type='GN', num_groups=2), act_cfg=dict(type='HSwish'))
    assert isinstance(gn.primary_conv[1], nn.GroupNorm)
    assert not isinstance(gn.primary_conv[2], nn.ReLU)
    plain = GhostModule(4, 8, norm_cfg=None)
    assert plain.primary_conv[0].bias is not None and len(plain.primary_conv) == 2


@pytest.mark.parametrize('kwargs', [dict(ratio=1), dict(ratio=0), dict(ratio=2.5),
                                    dict(out_channels=0), dict(dw_size=0), dict(stride=0)])
def test_ghost_module_bad_arguments(kwargs):
    args = dict(in_channels=4, out_channels=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        GhostModule(**args)


def test_squeeze_excite_reduced_channels_and_hard_sigmoid_gate():
    se = SqueezeExcite(72)
    assert se.conv_reduce.out_channels == 20  # make_divisible(72 * 0.25, 4)
    x = torch.rand(2, 72, 4, 4)
    scale = se.conv_expand(se.act(se.conv_reduce(x.mean((2, 3), keepdim=True))))
    expected = x * torch.clamp((scale + 3) / 6, 0, 1)
    assert torch.allclose(se(x), expected, atol=1e-6)


@pytest.mark.parametrize('in_c,mid,out,stride,se,shortcut_convs',
                         [(16, 16, 16, 1, 0, 0), (16, 48, 24, 2, 0, 2), (24, 72, 40, 2, 0.25, 2),
                          (40, 120, 40, 1, 0.25, 0), (80, 480, 112, 1, 0.25, 2)])
def test_ghost_bottleneck_structure(in_c, mid, out, stride, se, shortcut_convs):
    block = GhostBottleneck(in_c, mid, out, dw_kernel_size=5, stride=stride, se_ratio=se)
    assert hasattr(block, 'conv_dw') == (stride > 1)
    assert (block.se is not None) == bool(se)
    assert sum(isinstance(m, nn.Conv2d) for m in block.shortcut) == shortcut_convs
    assert not any(isinstance(m, nn.ReLU) for m in block.ghost2.modules())
    assert block(torch.rand(1, in_c, 16, 16)).shape == (1, out, 16 // stride, 16 // stride)


def test_ghost_bottleneck_identity_shortcut_adds_input():
    block = GhostBottleneck(8, 16, 8).eval()
    x = torch.rand(1, 8, 6, 6)
    assert torch.allclose(block(x), block.ghost2(block.ghost1(x)) + x)


def test_ghost_bottleneck_checkpointing_same_output():
    block = GhostBottleneck(8, 16, 8, with_cp=True).eval()
    x = torch.rand(1, 8, 6, 6, requires_grad=True)
    out = block(x)
    out.sum().backward()
    assert x.grad is not None
    with torch.no_grad():
        assert torch.allclose(out, block(x))
