"""What a built detector's parts output, and a check that its backbone and neck fit together,
so that a swapped backbone whose channels the neck does not expect is named with the setting to
change before the first forward fails deep in a convolution."""
import copy
from contextlib import contextmanager
from typing import Iterator, Tuple

import torch
import torch.nn as nn
from mmdet.models.necks import FPN
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from .utils import inner_model


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
        model (nn.Module): The detector, or a model wrapper (DDP, test-time augmentation)
            around it.
    """
    model = inner_model(model)
    backbone, neck = getattr(model, 'backbone', None), getattr(model, 'neck', None)
    if not isinstance(backbone, nn.Module) or not isinstance(neck, FPN):
        return
    _compare_neck_channels(backbone, neck.in_channels)


def check_config_neck_channels(cfg: Config, source: str = 'the config') -> None:
    """:func:`check_neck_channels` on a config, before any Runner exists: builds only
    ``cfg.model.backbone`` (no weights are loaded) and compares what it outputs with
    ``cfg.model.neck.in_channels`` when the neck is an FPN type. ``tools/train.py`` and
    ``tools/test.py`` call it with their other input checks, so a swapped backbone is one
    ``error:`` line instead of a traceback after the config and environment dump. A backbone
    the registry cannot build raises the registry's error here as well.

    Args:
        cfg (Config): The config (its ``model`` an mmdet detector).
        source (str): The config's name, for the message.
    """
    model = cfg.get('model')
    while isinstance(model, dict) and isinstance(model.get('module'), dict):
        model = model['module']  # inside test-time augmentation (tools/test.py --tta)
    backbone_cfg = model.get('backbone') if isinstance(model, dict) else None
    neck_cfg = model.get('neck') if isinstance(model, dict) else None
    if not isinstance(backbone_cfg, dict) or not isinstance(neck_cfg, dict):
        return
    neck_type = neck_cfg.get('type')
    neck_cls = MODELS.get(neck_type) if isinstance(neck_type, str) else neck_type
    if not (isinstance(neck_cls, type) and issubclass(neck_cls, FPN)):
        return
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):  # as the Runner
        backbone = MODELS.build(copy.deepcopy(backbone_cfg))
    try:
        _compare_neck_channels(backbone, neck_cfg.get('in_channels', ()))
    except NeckChannelsMismatchError as err:
        raise NeckChannelsMismatchError(f'{source}: {err}') from None


def _compare_neck_channels(backbone: nn.Module, in_channels) -> None:
    expected = [int(c) for c in in_channels]
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
