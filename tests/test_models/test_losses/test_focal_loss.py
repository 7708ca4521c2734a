"""FP32FocalLoss: identical to mmdet's FocalLoss in float32, and float32 inside under AMP."""
import pytest
import torch
from mmdet.models.losses import FocalLoss
from mmdet.models.losses import focal_loss as mmdet_focal_loss

from ghostdet.models.losses import FP32FocalLoss
from ghostdet.utils.registry import build_model


def _batch(n=64, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, classes, generator=gen) * 4
    target = torch.randint(0, classes + 1, (n,), generator=gen)  # classes = background
    weight = (torch.rand(n, generator=gen) > 0.2).float()  # some anchors ignored
    return pred, target, weight


def test_registered_and_built_from_config():
    loss = build_model(dict(type='FP32FocalLoss', gamma=1.5, alpha=0.3, loss_weight=2.0))
    assert isinstance(loss, FP32FocalLoss) and isinstance(loss, FocalLoss)
    assert (loss.gamma, loss.alpha, loss.loss_weight) == (1.5, 0.3, 2.0)


@pytest.mark.parametrize('reduction, avg_factor',
                         [('mean', None), ('mean', 7.0), ('sum', None), ('none', None),
                          ('none', 7.0)])  # mmdet refuses avg_factor with 'sum'
def test_equals_focal_loss_in_float32(reduction, avg_factor):
    pred, target, weight = _batch()
    kwargs = dict(gamma=2.0, alpha=0.25, loss_weight=1.5)
    ours = FP32FocalLoss(**kwargs)(pred, target, weight, avg_factor=avg_factor,
                                   reduction_override=reduction)
    theirs = FocalLoss(**kwargs)(pred, target, weight, avg_factor=avg_factor,
                                 reduction_override=reduction)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, theirs)


def test_half_logits_reach_the_loss_function_as_float32(monkeypatch):
    """The cast happens before mmdet picks its kernel: on the CPU that is the Python focal
    loss, on CUDA mmcv's, so what reaches the function is what mmcv's kernel would get."""
    seen = []
    original = mmdet_focal_loss.py_sigmoid_focal_loss

    def spy(pred, target, weight=None, **kwargs):
        seen.append((pred.dtype, None if weight is None else weight.dtype))
        return original(pred, target, weight, **kwargs)

    monkeypatch.setattr(mmdet_focal_loss, 'py_sigmoid_focal_loss', spy)
    pred, target, weight = _batch()
    half = pred.half().requires_grad_()
    loss = FP32FocalLoss()(half, target, weight.half())
    assert seen == [(torch.float32, torch.float32)]
    assert loss.dtype == torch.float32
    loss.backward()
    assert half.grad.dtype == torch.half and torch.isfinite(half.grad).all()
    # the reference, for contrast: mmdet's FocalLoss passes the float16 logits on
    FocalLoss()(pred.half(), target, weight.half())
    assert seen[-1][0] == torch.half
    # and the values agree with the float32 loss on the (rounded) logits
    ref = FocalLoss()(half.detach().float(), target, weight)
    torch.testing.assert_close(loss.detach(), ref)


def test_float16_cannot_guard_the_log_as_mmcv_kernel_intends():
    """The arithmetic of mmcv's CUDA kernel (sigmoid_focal_loss_cuda_kernel.cuh) for a class
    that is not the target, p**gamma * log(max(1 - p, (T)FLT_MIN)), done in float16: the
    guard is 0, so a confident logit gives -inf, and an ignored anchor's weight 0 gives NaN."""
    flt_min = torch.tensor(torch.finfo(torch.float32).tiny).half()
    assert flt_min == 0
    x = torch.tensor([4.0, 8.3, 8.4, 12.0]).half()
    p = (1 / (1 + torch.exp(-x.float()))).half()
    term_n = p.float() ** 2 * torch.log(torch.maximum(1 - p, flt_min)).float()
    assert torch.isfinite(term_n[:2]).all()
    assert torch.isinf(term_n[2:]).all()  # 1 - p rounds to 0 from a logit of about 8.3
    assert torch.isnan(term_n[2:] * 0).all()  # an ignored anchor's weight
    # the same logits in float32 stay finite: the guard is 1.2e-38
    p32 = torch.sigmoid(x.float())
    assert torch.isfinite(p32 ** 2 * torch.log(torch.clamp(1 - p32, min=1.2e-38))).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason='mmcv CUDA focal loss needs a GPU')
def test_cuda_amp_confident_ignored_anchor_stays_finite():
    """On CUDA under autocast: the head's float16 logits, one anchor ignored (weight 0) with a
    confident logit. mmdet's FocalLoss sends float16 to mmcv's kernel; ours stays finite."""
    head = torch.nn.Conv2d(4, 3, 1).cuda()
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([12.0, -4.0, -4.0]))
    x = torch.rand(8, 4, 1, 1, device='cuda')
    target = torch.full((8,), 3, device='cuda')  # background / ignored
    weight = torch.ones(8, device='cuda')
    weight[0] = 0
    with torch.autocast('cuda', dtype=torch.float16):
        logits = head(x).flatten(1)
        assert logits.dtype == torch.half
        ours = FP32FocalLoss()(logits, target, weight)
    ours.backward()
    assert torch.isfinite(ours) and torch.isfinite(head.weight.grad).all()
    ref = FocalLoss()(logits.detach().float(), target, weight)
    torch.testing.assert_close(ours.detach(), ref)
    with torch.autocast('cuda', dtype=torch.float16):
        theirs = FocalLoss()(head(x).flatten(1), target, weight)
    # the failure FP32FocalLoss exists for; if mmcv fixes its kernel this fails, and the
    # wrapper can go
    assert not torch.isfinite(theirs)
