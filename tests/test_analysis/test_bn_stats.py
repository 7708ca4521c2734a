import pytest
import torch
import torch.nn as nn

from ghostdet.analysis.bn_stats import recompute_bn_stats


def _batches():
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(4, 3, 6, 6, generator=gen) * (i + 1) + i for i in range(3)]


def test_statistics_become_the_plain_average_over_the_batches():
    conv = nn.Conv2d(3, 5, 1)
    bn = nn.BatchNorm2d(5, momentum=0.01)
    model = nn.Sequential(conv, bn).eval()
    weights = {k: v.clone() for k, v in model.state_dict().items() if 'running' not in k and
               'num_batches' not in k}
    batches = _batches()
    layers, seen = recompute_bn_stats(model, iter(batches))
    assert (layers, seen) == (1, 3)
    with torch.no_grad():
        feats = [conv(x) for x in batches]
    means = torch.stack([f.mean(dim=(0, 2, 3)) for f in feats])
    variances = torch.stack([f.transpose(0, 1).flatten(1).var(dim=1) for f in feats])
    torch.testing.assert_close(bn.running_mean, means.mean(0))
    torch.testing.assert_close(bn.running_var, variances.mean(0))
    assert bn.momentum == 0.01 and not bn.training and not model.training  # restored
    for key, value in weights.items():
        assert torch.equal(model.state_dict()[key], value)


def test_only_the_layers_of_the_module_are_touched():
    first, second = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    model = nn.Sequential(first, second).eval()
    second.running_mean.fill_(7.0)
    recompute_bn_stats(first, _batches())
    assert not torch.equal(first.running_mean, torch.zeros(3))
    assert torch.equal(second.running_mean, torch.full((3,), 7.0))
    assert not model.training and not first.training


def test_errors_name_what_is_missing():
    with pytest.raises(ValueError, match='Conv2d has no BatchNorm layer'):
        recompute_bn_stats(nn.Conv2d(3, 3, 1), _batches())
    bn = nn.BatchNorm2d(3, momentum=0.03)
    with pytest.raises(ValueError, match='no batches'):
        recompute_bn_stats(bn, [])
    assert bn.momentum == 0.03
