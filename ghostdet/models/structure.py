"""What a built detector's parts output, and a check that its backbone, neck and heads fit
together, so that a swapped backbone or a narrowed neck whose channels the next part does not
expect is named with the settings to change before the first forward fails deep in a
convolution."""
import copy
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from .utils import inner_model

PROBE_SHAPE = (1, 3, 64, 64)

# Necks whose ``in_channels`` list the channels of the backbone's maps, one per map: in the
# backbone's order, deepest map first, or in order after the input image (DetectoRS' RFP gets
# the image as the backbone's first output). Subclasses count (FPN: PAFPN, GhostFPN).
NECK_INPUTS = {
    'RFP': 'after the image',
    'FPN': 'in order',
    'ChannelMapper': 'in order',
    'CSPNeXtPAFPN': 'in order',
    'FPG': 'in order',
    'FPN_CARAFE': 'in order',
    'HRFPN': 'in order',
    'NASFCOS_FPN': 'in order',
    'NASFPN': 'in order',
    'SSDNeck': 'in order',
    'SSH': 'in order',
    'YOLOXPAFPN': 'in order',
    'YOLOV3Neck': 'deepest first',
}

# Necks with a list setting that must start with ``in_channels`` (mmdet's SSDNeck asserts it):
# a fix of ``in_channels`` names it too, its other entries kept.
NECK_REPEATS = {'SSDNeck': 'out_channels'}

# Settings of a one- or two-stage detector's heads that must equal the channels of the maps
# its neck (without one, its backbone) outputs, a list setting one number per map, a number
# for every map; and the part that, where the detector has one, changes the channels in
# between (a C4 model's ``shared_head``: the setting is not checked).
HEAD_INPUTS = (
    ('bbox_head', 'in_channels', None),
    ('rpn_head', 'in_channels', None),
    ('roi_head.bbox_roi_extractor', 'out_channels', None),
    ('roi_head.bbox_head', 'in_channels', 'roi_head.shared_head'),
    ('roi_head.mask_roi_extractor', 'out_channels', None),
    ('roi_head.mask_head', 'in_channels', 'roi_head.shared_head'),
)

# Detectors whose heads take the neck's maps as they are (not DETR types, which encode them).
DETECTORS_WITH_HEADS = (SingleStageDetector, TwoStageDetector)


class ChannelsMismatchError(ValueError):
    """A part of a detector takes another number of channels than the part before it gives."""


class NeckChannelsMismatchError(ChannelsMismatchError):
    """A neck's ``in_channels`` differ from the channels its backbone outputs."""


class HeadChannelsMismatchError(ChannelsMismatchError):
    """A head's channels differ from those of the maps the neck (or backbone) outputs."""


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


def _probe(model: nn.Module) -> torch.Tensor:
    param = next(model.parameters(), None)
    return torch.zeros(*PROBE_SHAPE, device=param.device if param is not None else 'cpu')


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
    with eval_no_grad(backbone):
        outs = backbone(_probe(backbone))
    return tuple(int(o.shape[1]) for o in outs)


def feature_channels(backbone: nn.Module, neck: Optional[nn.Module] = None) -> Tuple[int, ...]:
    """Channels of each map the heads get: what ``neck`` (a list of necks: an
    ``nn.Sequential``) makes of a 1x3x64x64 input through ``backbone``, or without a neck what
    the backbone outputs. Eval mode and no autograd, as :func:`backbone_out_channels`."""
    model = nn.ModuleList([backbone] + ([neck] if neck is not None else []))
    with eval_no_grad(model):
        outs = backbone(_probe(backbone))
        if neck is not None:
            outs = neck(outs)
    return tuple(int(o.shape[1]) for o in outs)


def check_channels(model: nn.Module) -> None:
    """Check that each part of the detector takes the channels the part before it gives.

    Raise :class:`NeckChannelsMismatchError` when the first neck is one of ``NECK_INPUTS``
    (mmdet's FPN types, ``SSDNeck``, ``ChannelMapper``, the YOLO necks, ghostdet's
    ``GhostFPN``) and its ``in_channels`` are not the channels its backbone outputs, e.g. after
    a backbone swap that kept the old neck settings; and :class:`HeadChannelsMismatchError`
    when a one- or two-stage detector's heads (``HEAD_INPUTS``: the dense head's
    ``in_channels``, the RoI extractors' ``out_channels`` and the RoI heads' ``in_channels``)
    are not the channels of the maps the neck outputs, e.g. after the neck's ``out_channels``
    changed, naming every setting to change at once.

    Other necks, other detectors (DETR types) and models without a backbone (an ONNX
    network) are not checked; nor is what a 1x3x64x64 probe cannot run through (the first
    forward will say why).

    Args:
        model (nn.Module): The detector, or a model wrapper (DDP, test-time augmentation)
            around it.
    """
    model = inner_model(model)
    backbone, neck = getattr(model, 'backbone', None), getattr(model, 'neck', None)
    if not isinstance(backbone, nn.Module):
        return
    neck = neck if isinstance(neck, nn.Module) else None
    first = neck[0] if isinstance(neck, nn.Sequential) and len(neck) else neck
    order, in_channels = _neck_inputs(type(first)), _built_neck_in_channels(first)
    if order is not None and in_channels is not None:
        _compare_neck_channels(backbone, in_channels, order)
    if isinstance(model, DETECTORS_WITH_HEADS):
        _compare_head_channels(model, backbone, neck)


def check_config_channels(cfg: Config, source: str = 'the config') -> None:
    """:func:`check_channels` on a config, before any Runner exists: builds only
    ``cfg.model.backbone`` and its neck(s) (no weights are loaded) and compares what they
    output with the neck's ``in_channels`` and the heads' settings as the config has them.
    ``tools/train.py`` and ``tools/test.py`` call it with their other input checks, so a
    swapped backbone is one ``error:`` line instead of a traceback after the config and
    environment dump. A backbone the registry cannot build raises the registry's error here
    as well; necks that cannot be built leave the heads unchecked (the Runner says why).

    Args:
        cfg (Config): The config (its ``model`` an mmdet detector).
        source (str): The config's name, for the message.
    """
    model = cfg.get('model')
    while isinstance(model, dict) and isinstance(model.get('module'), dict):
        model = model['module']  # inside test-time augmentation (tools/test.py --tta)
    backbone_cfg = model.get('backbone') if isinstance(model, dict) else None
    if not isinstance(backbone_cfg, dict):
        return
    neck_cfgs = model.get('neck')
    neck_cfgs = [neck_cfgs] if isinstance(neck_cfgs, dict) else list(neck_cfgs or [])
    if not all(isinstance(n, dict) for n in neck_cfgs):
        return
    scope = cfg.get('default_scope')
    neck_type = _registered(neck_cfgs[0].get('type'), scope) if neck_cfgs else None
    order = _neck_inputs(neck_type)
    detector = _registered(model.get('type'), scope)
    heads = isinstance(detector, type) and issubclass(detector, DETECTORS_WITH_HEADS)
    if order is None and not heads:
        return  # nothing to check: the backbone is not built
    with DefaultScope.overwrite_default_scope(scope):  # as the Runner
        backbone = MODELS.build(copy.deepcopy(backbone_cfg))
    try:
        if order is not None:
            _compare_neck_channels(backbone, neck_cfgs[0].get('in_channels', ()), order,
                                   neck_cfgs[0], neck_type)
        if not heads:
            return
        try:
            with DefaultScope.overwrite_default_scope(scope):
                necks = [MODELS.build(copy.deepcopy(n)) for n in neck_cfgs]
        except Exception:  # noqa: BLE001  (the Runner will say why it cannot build them)
            return
        neck = None if not necks else necks[0] if len(necks) == 1 else nn.Sequential(*necks)
        _compare_head_channels(model, backbone, neck)
    except ChannelsMismatchError as err:
        raise type(err)(f'{source}: {err}') from None


def _registered(name: Any, scope: Optional[str] = None) -> Any:
    if not isinstance(name, str):
        return name
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.get(name)


def _built_neck_in_channels(neck: Optional[nn.Module]) -> Optional[Sequence[int]]:
    """A built neck's ``in_channels``; mmdet's ``ChannelMapper`` keeps only its convs, and
    ``SSDNeck`` nothing (None: its configs are checked, by :func:`check_config_channels`)."""
    channels = getattr(neck, 'in_channels', None)
    convs = getattr(neck, 'convs', None)
    if channels is None and isinstance(convs, nn.ModuleList):
        channels = [getattr(getattr(c, 'conv', None), 'in_channels', None) for c in convs]
    ok = isinstance(channels, Sequence) and all(isinstance(c, int) for c in channels)
    return channels if ok else None


def _neck_inputs(neck_type: Any, table: dict = NECK_INPUTS) -> Optional[str]:
    """The entry of ``table`` that ``neck_type`` (a class) or a base class of it has."""
    for cls in getattr(neck_type, '__mro__', ()):
        if cls.__name__ in table and cls.__module__.startswith(('mmdet.', 'ghostdet.')):
            return table[cls.__name__]
    return None


def _compare_neck_channels(backbone: nn.Module, in_channels, order: str,
                           neck_cfg: Optional[dict] = None, neck_type: Any = None) -> None:
    """``neck_cfg``, ``neck_type``: the config and class of the neck, for ``NECK_REPEATS``."""
    expected = [int(c) for c in in_channels]
    try:
        found = list(backbone_out_channels(backbone))
    except Exception:  # noqa: BLE001  (a probe that fails checks nothing; see check_channels)
        return
    wanted = {'deepest first': found[::-1], 'after the image': found[1:]}.get(order, found)
    if wanted != expected:
        what = (f'{len(found)} feature maps of {found} channels' if order != 'after the image'
                else f'the image and {len(wanted)} feature maps of {wanted} channels')
        raise NeckChannelsMismatchError(
            f'model.neck.in_channels={expected}, but the backbone ({type(backbone).__name__}) '
            f'outputs {what}: set model.neck.in_channels={wanted}'
            + (' (deepest map first)' if order == 'deepest first' else '')
            + _repeated_fix(neck_cfg, neck_type, expected, wanted)
            + ", or the backbone's out_indices to the maps the neck expects")


def _repeated_fix(neck_cfg: Optional[dict], neck_type: Any, old: list, new: list) -> str:
    key = _neck_inputs(neck_type, NECK_REPEATS)
    value = (neck_cfg or {}).get(key) if key else None
    if not _is_channels(value) or isinstance(value, int) or list(value)[:len(old)] != old:
        return ''
    return f' and model.neck.{key}={new + list(value)[len(old):]}'


def _compare_head_channels(model: Any, backbone: nn.Module, neck: Optional[nn.Module]) -> None:
    """``model``: the built detector or its config; settings are read alike from both."""
    settings = list(_head_settings(model))
    if not settings:
        return
    try:
        maps = list(feature_channels(backbone, neck))
    except Exception:  # noqa: BLE001  (a probe that fails checks nothing; see check_channels)
        return
    wrong, fixes, unfixable = [], [], []
    for name, value in settings:
        if isinstance(value, (list, tuple)):
            if [int(v) for v in value] != maps:
                wrong.append(f'{name}={list(value)}')
                fixes.append(f'{name}={maps}')
        elif any(c != int(value) for c in maps):
            wrong.append(f'{name}={value}')
            if len(set(maps)) == 1:
                fixes.append(f'{name}={maps[0]}')
            else:
                unfixable.append(f'{name} takes maps of one width only')
    if wrong:
        if neck is None:
            maker = f'the backbone ({type(backbone).__name__})'
        elif isinstance(neck, nn.Sequential):
            maker = f'the necks ({", ".join(type(n).__name__ for n in neck)})'
        else:
            maker = f'the neck ({type(neck).__name__})'
        raise HeadChannelsMismatchError(
            f'{", ".join(wrong)}, but {maker} outputs {len(maps)} feature maps of {maps} '
            'channels' + (f': set {", ".join(fixes)}' if fixes else '')
            + ''.join(f'; {u}' for u in unfixable))


def _head_settings(model: Any) -> Iterator[Tuple[str, Any]]:
    """(``model.<path>.<key>``, or ``model.<path>.<i>.<key>`` in a list of heads, and its
    value) for each of ``HEAD_INPUTS`` the detector or its config has."""
    for path, key, between in HEAD_INPUTS:
        if between is not None and _lookup(model, between) is not None:
            continue
        part = _lookup(model, path)
        parts = list(enumerate(part)) if _is_list(part) else [(None, part)]
        for index, item in parts:
            value = _lookup(item, key)
            if _is_channels(value):
                where = path if index is None else f'{path}.{index}'
                yield f'model.{where}.{key}', value


def _lookup(obj: Any, path: str) -> Any:
    for name in path.split('.'):
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def _is_list(obj: Any) -> bool:
    return isinstance(obj, (list, tuple, nn.ModuleList))


def _is_channels(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
