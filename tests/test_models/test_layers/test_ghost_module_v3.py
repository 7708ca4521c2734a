import pytest
import torch
import torch.nn as nn

from ghostdet.models.layers import GhostBottleneckV3, GhostModule, GhostModuleV3

from tests.helpers import calibrate_batch_norms


def fold_keeps_outputs(module, x, atol=1e-5):
    """Fold ``module`` (random norms, eval) and compare its outputs before and after."""
    calibrate_batch_norms(module, shape=x.shape)
    with torch.no_grad():
        before = module(x)
        module.reparameterize()
        after = module(x)
    assert after.shape == before.shape
    torch.testing.assert_close(after, before, rtol=0, atol=atol)


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(with_attention=True),
    dict(act_cfg=None),
    dict(ratio=3),  # no identity branch: the cheap op widens the channels
    dict(kernel_size=3, stride=2, dw_size=5),
])
def test_module_fold_keeps_the_outputs(kwargs):
    fold_keeps_outputs(GhostModuleV3(8, 24, **kwargs), torch.randn(2, 8, 11, 9))


def test_module_training_form_names_and_deploy_form_is_a_biased_ghost_module():
    m = GhostModuleV3(8, 16, with_attention=True)
    children = [name for name, _ in m.named_children()]
    assert children == ['primary_rpr_conv', 'primary_activation', 'cheap_rpr_skip',
                        'cheap_rpr_conv', 'cheap_rpr_scale', 'cheap_activation', 'short_conv']
    assert len(m.primary_rpr_conv) == len(m.cheap_rpr_conv) == 3
    assert m.cheap_rpr_conv[0].conv.groups == 8 and m.cheap_rpr_scale.conv.kernel_size == (1, 1)
    assert GhostModuleV3(8, 24, ratio=3).cheap_rpr_skip is None
    m.reparameterize()
    assert m.deploy
    assert sorted(m.state_dict()) == [
        'cheap_operation.0.bias', 'cheap_operation.0.weight', 'primary_conv.0.bias',
        'primary_conv.0.weight'] + sorted(k for k in m.state_dict() if k.startswith('short_conv'))
    plain = GhostModule(8, 16, norm_cfg=None)
    assert [type(c) for c in m.primary_conv] == [type(c) for c in plain.primary_conv]
    assert [type(c) for c in m.cheap_operation] == [type(c) for c in plain.cheap_operation]


def test_module_fold_is_idempotent_and_keeps_the_dtype():
    m = calibrate_batch_norms(GhostModuleV3(4, 8), shape=(2, 4, 6, 6)).double()
    m.reparameterize()
    weight = m.primary_conv[0].weight.clone()
    m.reparameterize()
    assert torch.equal(m.primary_conv[0].weight, weight)
    assert weight.dtype == torch.float64


def test_module_fold_refuses_a_norm_it_cannot_fold():
    m = GhostModuleV3(4, 8, norm_cfg=dict(type='GN', num_groups=2))
    with pytest.raises(TypeError, match='GroupNorm'):
        m.reparameterize()


def test_module_trains_its_branches():
    m = GhostModuleV3(4, 8).train()
    m(torch.rand(2, 4, 6, 6)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize('stride,se_ratio,attention', [(2, 0.25, True), (2, 0, False),
                                                       (1, 0.25, True)])
def test_bottleneck_fold_keeps_the_outputs(stride, se_ratio, attention):
    block = GhostBottleneckV3(16, 48, 24, dw_kernel_size=5, stride=stride, se_ratio=se_ratio,
                              with_attention=attention)
    assert block.deploy == (stride == 1)  # a stride-1 block has no depthwise branches
    assert isinstance(block.ghost1, GhostModuleV3) and isinstance(block.ghost2, GhostModuleV3)
    assert (block.ghost1.short_conv is not None) == attention
    assert block.ghost2.short_conv is None
    x = torch.randn(2, 16, 13, 10)
    calibrate_batch_norms(block, shape=x.shape)
    with torch.no_grad():
        before = block(x)
        for m in [block.ghost1, block.ghost2, block]:
            m.reparameterize()
        after = block(x)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5)
    assert not [k for k in block.state_dict() if '_rpr_' in k]
    if stride > 1:
        assert block.conv_dw.bias is not None and block.conv_dw.stride == (2, 2)
        assert block.conv_dw.kernel_size == (5, 5) and block.conv_dw.groups == 48


def test_bottleneck_training_names():
    block = GhostBottleneckV3(16, 48, 24, dw_kernel_size=3, stride=2)
    keys = set(block.state_dict())
    assert {'dw_rpr_conv.2.conv.weight', 'dw_rpr_conv.0.bn1.running_var',
            'dw_rpr_scale.conv.weight'} <= keys
    assert block.dw_rpr_scale.conv.stride == (2, 2)
    assert not hasattr(block, 'conv_dw')
    assert isinstance(block.shortcut, nn.Sequential) and len(block.shortcut) == 4
