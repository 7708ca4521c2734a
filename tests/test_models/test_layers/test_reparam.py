import pytest
import torch
import torch.nn as nn

from ghostdet.models.layers import ConvBnAct
from ghostdet.models.layers.reparam import fold_branches, fold_norm, load_folded

from tests.helpers import calibrate_batch_norms


def test_fold_norm_equals_conv_then_eval_norm():
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    for affine in (True, False):
        norm = nn.BatchNorm2d(6, affine=affine)
        seq = calibrate_batch_norms(nn.Sequential(conv, norm), shape=(2, 4, 8, 8)) if affine \
            else nn.Sequential(conv, norm).eval()
        kernel, bias = fold_norm(conv.weight, norm)
        assert kernel.dtype == bias.dtype == torch.float64
        x = torch.rand(2, 4, 8, 8)
        folded = nn.functional.conv2d(x.double(), kernel, bias, padding=1)
        torch.testing.assert_close(folded.float(), seq(x), rtol=0, atol=1e-5)


def test_fold_norm_refuses_norms_without_running_statistics():
    with pytest.raises(TypeError, match='GroupNorm'):
        fold_norm(torch.rand(4, 4, 1, 1), nn.GroupNorm(2, 4))
    with pytest.raises(TypeError, match='running statistics'):
        fold_norm(torch.rand(4, 4, 1, 1), nn.BatchNorm2d(4, track_running_stats=False))


@pytest.mark.parametrize('groups', [1, 2, 6])
def test_branches_of_two_sizes_and_an_identity_fold_into_one_conv(groups):
    branches = nn.ModuleList([
        ConvBnAct(6, 6, 3, groups=groups, act_cfg=None),
        ConvBnAct(6, 6, 3, groups=groups, act_cfg=None),
        ConvBnAct(6, 6, 1, groups=groups, act_cfg=None)])
    identity = nn.BatchNorm2d(6)

    class Sum(nn.Module):

        def forward(self, x):
            return sum(b(x) for b in branches) + identity(x)

    model = Sum()
    model.branches, model.identity = branches, identity
    calibrate_batch_norms(model, shape=(2, 6, 9, 7))
    kernel, bias = fold_branches(branches, identity=identity)
    assert kernel.shape == (6, 6 // groups, 3, 3)
    conv = load_folded(nn.Conv2d(6, 6, 3, padding=1, groups=groups), kernel, bias,
                       branches[0].conv.weight)
    x = torch.rand(2, 6, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), model(x), rtol=0, atol=1e-5)


def test_an_identity_branch_needs_as_many_outputs_as_inputs():
    with pytest.raises(ValueError, match='identity'):
        fold_branches([ConvBnAct(4, 8, 3, groups=4, act_cfg=None)], identity=nn.BatchNorm2d(4))
