"""Structural re-parameterisation: parallel convolution + norm branches, used while training,
folded into one biased convolution for inference (RepVGG; GhostNetV3).

Convolution and batch norm in eval mode are both affine, so a sum of ``conv_i -> BN_i`` branches
over the same input, with the same stride and groups and centred kernels, equals one
convolution whose kernel is the sum of the branches' kernels scaled by ``gamma / std`` (smaller
kernels zero-padded to the largest) and whose bias is the sum of ``beta - mean * gamma / std``. A
norm-only branch is the same with an identity kernel.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


class Reparameterizable:
    """A module with training-time branches that :meth:`reparameterize` folds in place.

    ``deploy`` is True once the module's own branches are folded (or when it has none), so
    folding is idempotent; :func:`ghostdet.models.utils.reparameterize` folds a whole model.
    """

    deploy: bool = False

    def reparameterize(self) -> None:
        """Fold the training branches into single convolutions (eval-mode norm statistics)."""
        raise NotImplementedError


def fold_norm(kernel: Tensor, norm: nn.Module) -> Tuple[Tensor, Tensor]:
    """Kernel and bias (float64) of a bias-free convolution ``kernel`` followed by ``norm`` in
    eval mode.

    Raises:
        TypeError: ``norm`` is not a batch norm (only running statistics can be folded).
    """
    if not isinstance(norm, _BatchNorm) or norm.running_var is None:
        raise TypeError('only batch norm with running statistics folds into a convolution, '
                        f'not {type(norm).__name__}')
    std = (norm.running_var.double() + norm.eps).sqrt()
    gamma = norm.weight.double() if norm.affine else torch.ones_like(std)
    beta = norm.bias.double() if norm.affine else torch.zeros_like(std)
    scale = gamma / std
    return (kernel.double() * scale.reshape(-1, 1, 1, 1),
            beta - norm.running_mean.double() * scale)


def fold_branches(branches: Sequence[nn.Module],
                  identity: Optional[nn.Module] = None) -> Tuple[Tensor, Tensor]:
    """Kernel and bias (float64) of the one convolution that equals the sum of ``branches``
    (modules with ``conv`` and ``bn1``, e.g. :class:`~ghostdet.models.layers.ConvBnAct` without
    activation) and of the norm-only ``identity`` branch.

    The branches share input, output channels, stride and groups; their kernels are centred
    (padding ``k // 2``) and zero-padded to the largest one.
    """
    kernels = [branch.conv.weight for branch in branches]
    height = max(k.shape[2] for k in kernels)
    width = max(k.shape[3] for k in kernels)
    kernel = kernels[0].new_zeros((*kernels[0].shape[:2], height, width), dtype=torch.float64)
    bias = kernel.new_zeros(kernel.shape[0])
    for branch in branches:
        k, b = fold_norm(branch.conv.weight, branch.bn1)
        dh, dw = (height - k.shape[2]) // 2, (width - k.shape[3]) // 2
        kernel += F.pad(k, [dw, dw, dh, dh])
        bias += b
    if identity is not None:
        channels, per_group = kernel.shape[:2]
        if identity.num_features != channels:
            raise ValueError(f'an identity branch needs as many outputs as inputs: '
                             f'{identity.num_features} vs {channels}')
        eye = torch.zeros_like(kernel)
        index = torch.arange(channels)
        eye[index, index % per_group, height // 2, width // 2] = 1
        k, b = fold_norm(eye, identity)
        kernel += k
        bias += b
    return kernel, bias


def load_folded(conv: nn.Conv2d, kernel: Tensor, bias: Tensor, like: Tensor) -> nn.Conv2d:
    """``conv`` (biased) on ``like``'s device and dtype, holding ``kernel`` and ``bias``."""
    conv.to(device=like.device, dtype=like.dtype)
    with torch.no_grad():
        conv.weight.copy_(kernel)
        conv.bias.copy_(bias)
    return conv
