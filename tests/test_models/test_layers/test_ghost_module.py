import math

import pytest
import torch
import torch.nn as nn

from ghostdet.models.layers import (ConvBnAct, GhostBottleneck, GhostModule, GhostModuleV2,
                                   SqueezeExcite)


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


def test_dfc_attention_gates_each_output_element_from_the_pooled_input():
    m = GhostModuleV2(6, 10).eval()
    assert [type(c).__name__ for c in m.short_conv] == [
        'Conv2d', 'BatchNorm2d', 'Conv2d', 'BatchNorm2d', 'Conv2d', 'BatchNorm2d']
    assert m.short_conv[2].kernel_size == (1, 5) and m.short_conv[4].kernel_size == (5, 1)
    assert m.short_conv[2].groups == m.short_conv[4].groups == 10
    x = torch.rand(2, 6, 9, 7)  # odd sides: pooled to 4x3, upsampled back to 9x7
    with torch.no_grad():
        gate = m.short_conv(x, (9, 7))
        out = m(x)
        torch.testing.assert_close(out, GhostModule.forward(m, x) * gate)
    assert gate.shape == out.shape == (2, 10, 9, 7)
    assert 0 < gate.min() and gate.max() < 1
    x = torch.rand(2, 6, 8, 6)  # even sides: each pooled value gates a 2x2 block
    with torch.no_grad():
        pooled = torch.sigmoid(nn.Sequential(*m.short_conv)(nn.functional.avg_pool2d(x, 2)))
        gate = m.short_conv(x, (8, 6))
    assert torch.equal(gate, pooled.repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_bottleneck_with_attention_puts_it_in_ghost1_only():
    block = GhostBottleneck(16, 48, 24, stride=2, with_attention=True)
    assert type(block.ghost1) is GhostModuleV2 and type(block.ghost2) is GhostModule
    assert type(GhostBottleneck(16, 48, 24).ghost1) is GhostModule


def test_conv_bn_act_names_and_optional_activation():
    m = ConvBnAct(4, 8, 3, stride=2, groups=4, act_cfg=None)
    assert list(m.state_dict())[:2] == ['conv.weight', 'bn1.weight'] and m.act1 is None
    assert m.conv.padding == (1, 1) and m.conv.groups == 4 and m.conv.bias is None
    assert isinstance(ConvBnAct(4, 8).act1, nn.ReLU)
