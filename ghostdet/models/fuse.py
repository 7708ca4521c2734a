"""A detector's network without post-processing, and BatchNorm folded into the convolutions
before it with a check that the outputs stay the same (what deployment and ``test.py
--fuse-conv-bn`` run)."""
import copy
from contextlib import contextmanager
from typing import Any, Iterator, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .structure import eval_no_grad
from .synthetic_inputs import synthetic_rois


def flatten_tensors(outputs: Any) -> Tuple[Tensor, ...]:
    """The tensors of nested tuples/lists (a dense head's outputs), in order."""
    if isinstance(outputs, Tensor):
        return (outputs, )
    return tuple(t for item in outputs for t in flatten_tensors(item))


class DetectorNetwork(nn.Module):
    """A detector's network without post-processing, with fixed RoIs for a two-stage RoI head.

    ``forward(img)`` runs ``extract_feat`` (backbone + neck), the dense head's ``forward``
    (``rpn_head`` or ``bbox_head``: raw scores and box deltas) and, for two-stage detectors,
    the box branch of the RoI head on ``num_proposals`` synthetic RoIs per image instead of the
    RPN's decoded, NMS-ed proposals. Its cost therefore does not depend on the weights, so
    detectors with different backbones compare on equal terms; decoding and NMS are left out.

    Args:
        detector (nn.Module): An mmdet detector.
        num_proposals (int): RoIs per image for the RoI head. Defaults to 1000.

    Example:
        >>> import torch
        >>> from ghostdet.apis import build_detector
        >>> model = build_detector('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
        >>> outs = DetectorNetwork(model, num_proposals=10)(torch.rand(1, 3, 64, 64))
        >>> tuple(outs[-2].shape), tuple(outs[-1].shape)  # RoI head scores and deltas
        ((10, 81), (10, 320))
    """

    def __init__(self, detector: nn.Module, num_proposals: int = 1000) -> None:
        super().__init__()
        if num_proposals < 1:
            raise ValueError(f'num_proposals must be positive, but got {num_proposals!r}')
        self.detector = detector
        self.num_proposals = num_proposals
        self._rois: dict = {}

    def rois(self, img: Tensor) -> Tensor:
        """The fixed RoIs of a batch shaped like ``img`` (cached per shape)."""
        key = (tuple(img.shape), img.device)
        if key not in self._rois:
            batch, _, height, width = img.shape
            one = synthetic_rois(self.num_proposals, height, width)
            rois = []
            for i in range(batch):
                image_rois = one.clone()
                image_rois[:, 0] = i
                rois.append(image_rois)
            self._rois[key] = torch.cat(rois).to(img.device)
        return self._rois[key]

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        model = self.detector
        feats = model.extract_feat(img)
        head = model.rpn_head if getattr(model, 'with_rpn', False) else model.bbox_head
        outs = flatten_tensors(head(feats))
        roi_head = getattr(model, 'roi_head', None)
        if isinstance(roi_head, nn.Module):
            extractor = roi_head.bbox_roi_extractor
            bbox_feats = extractor(feats[:extractor.num_inputs], self.rois(img))
            if getattr(roi_head, 'with_shared_head', False):
                bbox_feats = roi_head.shared_head(bbox_feats)
            outs = outs + flatten_tensors(roi_head.bbox_head(bbox_feats))
        return outs


@contextmanager
def full_fp32() -> Iterator[None]:
    """float32 convolutions and matrix products without TF32 for the block. On Ampere and later
    GPUs cuDNN computes float32 convolutions in TF32 by default (``torch.backends.cudnn.
    allow_tf32``), a 10-bit significand: a check that a rewrite of the network computes the same
    float32 function needs float32 on both sides."""
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Set every BatchNorm's running statistics and affine parameters of ``model`` (in place)
    to seeded random values a trained model could have: mean in [-0.5, 0.5], variance in
    [0.5, 2], weight in [0.5, 1.5], bias in [-0.2, 0.2]. Fresh statistics (mean 0, variance 1,
    weight 1, bias 0) make a BatchNorm a near identity, which hides a wrong fold. Returns
    ``model``."""
    from torch.nn.modules.batchnorm import _BatchNorm

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                for tensor, (low, high) in ((m.running_mean, (-0.5, 0.5)),
                                            (m.running_var, (0.5, 2.0)), (m.weight, (0.5, 1.5)),
                                            (m.bias, (-0.2, 0.2))):
                    if tensor is not None:
                        values = torch.empty(tensor.shape).uniform_(low, high, generator=gen)
                        tensor.copy_(values)
    return model


def unshare_convolutions(model: nn.Module) -> int:
    """Give every parent its own copy of a convolution it shares with another parent (in
    place), and return how many were copied. Heads that share one convolution across pyramid
    levels, each level with its own BatchNorm (mmdet's ``RTMDetSepBNHead``), fold correctly
    only then: folding each level's BatchNorm into the one shared convolution would fold them
    all into it. The outputs stay the same; the copies no longer share their weights."""
    seen = set()
    copied = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.modules.conv._ConvNd):
                continue
            if id(child) in seen:
                setattr(parent, name, copy.deepcopy(child))
                copied += 1
            else:
                seen.add(id(child))
    return copied


def relative_difference(expected: Sequence[Tensor], got: Sequence[Tensor]) -> float:
    """The largest difference between two models' outputs, each output's relative to its
    largest magnitude in ``expected`` (absolute where that is 0). Raises ValueError when the
    outputs differ in number or shape."""
    if len(expected) != len(got):
        raise ValueError(f'{len(got)} outputs, expected {len(expected)}')
    worst = 0.0
    for want, have in zip(expected, got):
        if tuple(want.shape) != tuple(have.shape):
            raise ValueError(f'an output shaped {tuple(have.shape)}, expected '
                             f'{tuple(want.shape)}')
        if want.numel():
            scale = float(want.abs().max())
            diff = float((want - have).abs().max())
            worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def fuse_conv_bn(model: nn.Module,
                 img: Tensor,
                 rtol: float = 1e-4,
                 num_proposals: int = 100,
                 inplace: bool = False) -> Tuple[nn.Module, int, float]:
    """A copy of ``model`` with each BatchNorm folded into the convolution before it, as
    deployment does (mmcv's ``fuse_conv_bn``: one convolution instead of a convolution and a
    normalisation over its whole output), checked to compute what the model computes.

    mmcv folds a BatchNorm into the ``Conv2d`` registered just before it in the same parent
    module, which assumes that the forward applies them in that order. The check catches a model
    where it does not. A convolution shared by several parents is copied for each first
    (:func:`unshare_convolutions`), so that each copy takes its own parent's BatchNorm. It folds
    a second copy whose BatchNorms hold random statistics (:func:`randomize_batchnorm`; the
    model's own may fold to a near identity, as fresh ones do) and requires its outputs on
    ``img`` to equal the unfolded copy's within ``rtol`` of each output's largest magnitude,
    both computed in float32 without TF32 (:func:`full_fp32`). For a detector the outputs are
    :class:`DetectorNetwork`'s (backbone, neck and heads, a two-stage RoI head on
    ``num_proposals`` fixed RoIs), which do not depend on NMS picking the same boxes.

    Args:
        model (nn.Module): A model (an mmdet detector or any module taking ``img``).
        img (Tensor): An input batch, on the model's device.
        rtol (float): Largest accepted difference, relative to each output's largest
            magnitude. Defaults to 1e-4 (float32 folding differs by about 1e-6).
        num_proposals (int): RoIs per image for a two-stage check. Defaults to 100.
        inplace (bool): Fold ``model`` itself (once the check has passed) instead of a copy.
            Defaults to False.

    Returns:
        tuple[nn.Module, int, float]: The folded model (a copy unless ``inplace``; in eval
        mode), the number of BatchNorm layers folded and the largest relative difference of
        the check.

    Raises:
        ValueError: The check's outputs differ by more than ``rtol``.
    """
    from mmcv.cnn import fuse_conv_bn as mmcv_fuse_conv_bn
    from torch.nn.modules.batchnorm import _BatchNorm

    def norms(module: nn.Module) -> int:
        return sum(isinstance(m, _BatchNorm) for m in module.modules())

    def outputs(module: nn.Module) -> Tuple[Tensor, ...]:
        if hasattr(module, 'extract_feat'):
            module = DetectorNetwork(module, num_proposals)
        with eval_no_grad(module), full_fp32():
            return flatten_tensors(module(img))

    def fold(module: nn.Module, inplace: bool = False) -> nn.Module:
        module = module if inplace else copy.deepcopy(module)
        unshare_convolutions(module)
        return mmcv_fuse_conv_bn(module.eval())

    probe = randomize_batchnorm(copy.deepcopy(model))
    worst = relative_difference(outputs(probe), outputs(fold(probe)))
    del probe
    if worst > rtol:
        raise ValueError(
            f'folding BatchNorm into the convolutions changes the outputs by up to {worst:.3g} '
            f'of their magnitude (more than {rtol:g}): some BatchNorm is not applied to the '
            'output of the convolution registered just before it, so mmcv\'s fuse_conv_bn '
            'cannot fold this model')
    before = norms(model)
    fused = fold(model, inplace)
    return fused, before - norms(fused), worst
