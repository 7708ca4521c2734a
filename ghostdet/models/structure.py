"""What a built detector's parts output, and a check that its backbone and neck fit together,
so that a swapped backbone whose channels the neck does not expect is named with the setting to
change before the first forward fails deep in a convolution."""
from contextlib import contextmanager
from typing import Iterator, Tuple

import torch
import torch.nn as nn
from mmdet.models.necks import FPN
from mmengine.model import is_model_wrapper


class NeckChannelsMismatchError(ValueError):
    """A neck's ``in_channels`` differ from the channels its backbone outputs."""


@contextmanager
def eval_no_grad(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for the block; the training flag of every module is restored
    afterwards (mmdet's ``MobileNetV2.train`` returns None, so ``model.eval()`` is not chained)."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes.items():
            module.training = mode


def backbone_out_channels(backbone: nn.Module) -> Tuple[int, ...]:
    """Channels of each feature map ``backbone`` returns.

    Uses the ``out_channels`` attribute of ghostdet backbones, else runs a 1x3x64x64 input on
    the backbone's device, in eval mode (mmdet's MobileNetV2 has no such attribute).

    Args:
        backbone (nn.Module): A detection backbone.

    Returns:
        tuple[int]: One channel count per output.
    """
    channels = getattr(backbone, 'out_channels', None)
    if isinstance(channels, (tuple, list)) and all(isinstance(c, int) for c in channels):
        return tuple(channels)
    param = next(backbone.parameters(), None)
    device = param.device if param is not None else 'cpu'
    with eval_no_grad(backbone):
        outs = backbone(torch.zeros(1, 3, 64, 64, device=device))
    return tuple(int(o.shape[1]) for o in outs)


def check_neck_channels(model: nn.Module) -> None:
    """Raise :class:`NeckChannelsMismatchError` when the detector's neck is an FPN (mmdet's
    ``FPN`` and ``PAFPN``, ghostdet's ``GhostFPN``) whose ``in_channels`` are not the channels
    its backbone outputs, e.g. after a backbone swap that kept the old neck settings.

    Other necks (whose ``in_channels`` may follow other conventions), a list of necks, and
    models without a backbone (an ONNX network) are not checked; nor is a backbone that cannot
    run the 64x64 probe of :func:`backbone_out_channels` (the first forward will say why).

    Args:
        model (nn.Module): The detector, or a model wrapper (DDP) around it.
    """
    if is_model_wrapper(model):
        model = model.module
    backbone, neck = getattr(model, 'backbone', None), getattr(model, 'neck', None)
    if not isinstance(backbone, nn.Module) or not isinstance(neck, FPN):
        return
    expected = [int(c) for c in neck.in_channels]
    try:
        found = list(backbone_out_channels(backbone))
    except Exception:  # noqa: BLE001  (a probe that fails checks nothing; see the docstring)
        return
    if found != expected:
        raise NeckChannelsMismatchError(
            f'model.neck.in_channels={expected}, but the backbone ({type(backbone).__name__}) '
            f'outputs {len(found)} feature maps of {found} channels: set '
            f'model.neck.in_channels={found}, or the backbone\'s out_indices to the maps the '
            'neck expects')
