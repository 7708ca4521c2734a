"""What a built detector's parts output, and a check that its backbone, neck and heads fit
together, so that a swapped backbone or a narrowed neck whose channels the next part does not
expect is named with the settings to change before the first forward fails deep in a
convolution."""
import copy
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from .utils import inner_model

# Sides of the square zero images run through a backbone (and neck) to see their channels: the
# next where the one before is too small for the model (SSD512's extra layers, RFP, ...).
PROBE_SIZES = (64, 512)

# Necks whose ``in_channels`` give the channels of the maps the part before them outputs (the
# backbone, or the neck before in a list of necks): a list, one per map, in order, deepest map
# first, or in order after the input image (DetectoRS' RFP gets the image as the backbone's
# first output); or one number, that of the deepest map, the only one the neck takes (YOLOF,
# CenterNet), or that of every map, all of one width (Libra R-CNN's BFP, DyHead). Subclasses
# count (FPN: PAFPN, GhostFPN).
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
    'CTResNetNeck': 'deepest only',
    'DilatedEncoder': 'deepest only',
    'BFP': 'every map',
    'DyHead': 'every map',
}
ONE_NUMBER = ('deepest only', 'every map')

# Where a built neck keeps its input channels, if not in ``in_channels`` (CTResNetNeck reuses
# it for its last deconvolution's width; ChannelMapper keeps only its convs).
NECK_BUILT_INPUTS = {'CTResNetNeck': 'deconv_layers.0.conv.in_channels'}

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

# Settings of a one- or two-stage detector's heads that give the stride of each map they take
# (pixels of the image per pixel of the map), in the order the neck outputs them: every map
# ('all'), or the first ones ('first': RoI extractors use the first maps of the neck's list).
# SSD's anchor generators are not compared: their strides are set for one input size.
HEAD_STRIDES = (
    ('bbox_head', 'anchor_generator.strides', 'all'),
    ('bbox_head', 'prior_generator.strides', 'all'),
    ('bbox_head', 'strides', 'all'),
    ('bbox_head', 'featmap_strides', 'all'),  # YOLOv3's box decoding and targets
    ('rpn_head', 'anchor_generator.strides', 'all'),
    ('roi_head.bbox_roi_extractor', 'featmap_strides', 'first'),
    ('roi_head.mask_roi_extractor', 'featmap_strides', 'first'),
)
STRIDE_PROBE_SIZE = 512

# Detectors whose heads take the neck's maps as they are (not DETR types, which encode them).
DETECTORS_WITH_HEADS = (SingleStageDetector, TwoStageDetector)


class ChannelsMismatchError(ValueError):
    """A part of a detector takes another number of channels than the part before it gives."""


class NeckChannelsMismatchError(ChannelsMismatchError):
    """A neck's ``in_channels`` differ from the channels its backbone outputs."""


class HeadChannelsMismatchError(ChannelsMismatchError):
    """A head's channels differ from those of the maps the neck (or backbone) outputs."""


class HeadStridesMismatchError(ValueError):
    """A head's strides (its anchors' or points' spacing, its RoI extractor's scales) differ
    from those of the maps the neck (or backbone) outputs."""


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


def _probed(backbone: nn.Module, neck: Optional[nn.Module] = None,
            sizes: Sequence[int] = PROBE_SIZES) -> Tuple[int, List[Tuple[int, int]]]:
    """The side of the first of ``sizes`` whose zero image runs through ``backbone`` (and
    ``neck``), and the (channels, width) of each map that makes; on the backbone's device, in
    eval mode, without autograd."""
    model = backbone if neck is None else nn.ModuleList([backbone, neck])
    param = next(model.parameters(), None)
    device = param.device if param is not None else 'cpu'
    with eval_no_grad(model):
        for size in sizes:
            try:
                outs = backbone(torch.zeros(1, 3, size, size, device=device))
                outs = neck(outs) if neck is not None else outs
                return size, [(int(o.shape[1]), int(o.shape[-1])) for o in outs]
            except RuntimeError:  # too small for the model (a shape error): a larger one
                if size == sizes[-1]:
                    raise


def backbone_out_channels(backbone: nn.Module) -> Tuple[int, ...]:
    """Channels of each feature map ``backbone`` returns.

    Uses the ``out_channels`` attribute of ghostdet backbones, else runs a 1x3x64x64 zero image
    (1x3x512x512 where that is too small) on the backbone's device, in eval mode (mmdet's
    MobileNetV2 has no such attribute).

    Args:
        backbone (nn.Module): A detection backbone.

    Returns:
        tuple[int]: One channel count per output.
    """
    channels = getattr(backbone, 'out_channels', None)
    if isinstance(channels, (tuple, list)) and all(isinstance(c, int) for c in channels):
        return tuple(channels)
    return tuple(c for c, _ in _probed(backbone)[1])


def feature_channels(backbone: nn.Module, neck: Optional[nn.Module] = None) -> Tuple[int, ...]:
    """Channels of each map the heads get: what ``neck`` (a list of necks: an
    ``nn.Sequential``) makes of a zero image through ``backbone``, or without a neck what the
    backbone outputs; as :func:`backbone_out_channels` (sizes: ``PROBE_SIZES``)."""
    return tuple(c for c, _ in _probed(backbone, neck)[1])


def check_channels(model: nn.Module) -> None:
    """Check that each part of the detector takes the channels the part before it gives.

    Raise :class:`NeckChannelsMismatchError` when a neck is one of ``NECK_INPUTS`` (mmdet's
    FPN types, ``SSDNeck``, ``ChannelMapper``, the YOLO, YOLOF and CenterNet necks, ``BFP``,
    ``DyHead``, ghostdet's ``GhostFPN``) and its ``in_channels`` are not the channels of the
    maps the backbone (or, in a list of necks, the necks before it) outputs, e.g. after a
    backbone swap that kept the old neck settings; and :class:`HeadChannelsMismatchError`
    when a one- or two-stage detector's heads (``HEAD_INPUTS``: the dense head's
    ``in_channels``, the RoI extractors' ``out_channels`` and the RoI heads' ``in_channels``)
    are not the channels of the maps the neck outputs, e.g. after the neck's ``out_channels``
    changed, naming every setting to change at once.

    Other necks, other detectors (DETR types) and models without a backbone (an ONNX
    network) are not checked; nor is what a 1x3x512x512 probe cannot run through either (the
    first forward will say why).

    Args:
        model (nn.Module): The detector, or a model wrapper (DDP, test-time augmentation)
            around it.
    """
    model = inner_model(model)
    backbone, neck = getattr(model, 'backbone', None), getattr(model, 'neck', None)
    if not isinstance(backbone, nn.Module):
        return
    neck = neck if isinstance(neck, nn.Module) else None
    necks = _neck_list(neck)
    for index, part in enumerate(necks):
        order = _neck_inputs(type(part))
        if order is not None:
            _compare_neck_channels(backbone, necks, index, _built_neck_in_channels(part),
                                   order, listed=isinstance(neck, nn.Sequential))
    if isinstance(model, DETECTORS_WITH_HEADS):
        _compare_head_channels(model, backbone, neck)


def check_config_channels(cfg: Config, source: str = 'the config') -> None:
    """:func:`check_channels` on a config, before any Runner exists: builds only
    ``cfg.model.backbone`` and its neck(s) (no weights are loaded) and compares what they
    output with the necks' ``in_channels`` and the heads' settings as the config has them;
    and, here only, the strides of the maps (on a 512x512 image) with the heads' strides
    (``HEAD_STRIDES``: anchor and point generators, RoI extractors), raising
    :class:`HeadStridesMismatchError`, e.g. for a neck that starts at the second map of a
    backbone that has one map fewer than the one it was set for.
    ``tools/train.py`` and ``tools/test.py`` call it with their other input checks, so a
    swapped backbone is one ``error:`` line instead of a traceback after the config and
    environment dump. A backbone the registry cannot build raises the registry's error here
    as well; necks that cannot be built leave the necks after the first and the heads
    unchecked (the Runner says why).

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
    listed = not isinstance(neck_cfgs, dict)
    neck_cfgs = [neck_cfgs] if isinstance(neck_cfgs, dict) else list(neck_cfgs or [])
    if not all(isinstance(n, dict) for n in neck_cfgs):
        return
    scope = cfg.get('default_scope')
    neck_types = [_registered(n.get('type'), scope) for n in neck_cfgs]
    orders = [_neck_inputs(t) for t in neck_types]
    detector = _registered(model.get('type'), scope)
    heads = isinstance(detector, type) and issubclass(detector, DETECTORS_WITH_HEADS)
    if not any(orders) and not heads:
        return  # nothing to check: the backbone is not built
    with DefaultScope.overwrite_default_scope(scope):  # as the Runner
        backbone = MODELS.build(copy.deepcopy(backbone_cfg))
    try:
        if orders and orders[0] is not None:
            _compare_neck_channels(backbone, [], 0, neck_cfgs[0].get('in_channels'), orders[0],
                                   neck_cfgs[0], neck_types[0], listed)
        if not heads and not any(orders[1:]):
            return
        try:
            with DefaultScope.overwrite_default_scope(scope):
                necks = [MODELS.build(copy.deepcopy(n)) for n in neck_cfgs]
        except Exception:  # noqa: BLE001  (the Runner will say why it cannot build them)
            return
        for index in range(1, len(necks)):
            if orders[index] is not None:
                _compare_neck_channels(backbone, necks, index,
                                       neck_cfgs[index].get('in_channels'), orders[index])
        if heads:
            neck = None if not necks else necks[0] if len(necks) == 1 else nn.Sequential(*necks)
            strides = list(_head_strides(model))
            probed = (_measured(_probed, backbone, neck, (STRIDE_PROBE_SIZE, )) if strides
                      else None)  # one forward for the heads' channels and strides
            _compare_head_channels(model, backbone, neck, probed)
            _compare_head_strides(strides, backbone, neck, probed)
    except (ChannelsMismatchError, HeadStridesMismatchError) as err:
        raise type(err)(f'{source}: {err}') from None


def _registered(name: Any, scope: Optional[str] = None) -> Any:
    if not isinstance(name, str):
        return name
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.get(name)


def _built_neck_in_channels(neck: nn.Module) -> Any:
    """A built neck's input channels (``NECK_BUILT_INPUTS``, else ``in_channels``; for mmdet's
    ``ChannelMapper``, which keeps only its convs, theirs); None where it keeps none
    (``SSDNeck``: its configs are checked, by :func:`check_config_channels`)."""
    channels = _lookup(neck, _neck_inputs(type(neck), NECK_BUILT_INPUTS) or 'in_channels')
    convs = getattr(neck, 'convs', None)
    if channels is None and isinstance(convs, nn.ModuleList):
        channels = [getattr(getattr(c, 'conv', None), 'in_channels', None) for c in convs]
    return channels if _is_channels(channels) else None


def _neck_inputs(neck_type: Any, table: dict = NECK_INPUTS) -> Optional[str]:
    """The entry of ``table`` that ``neck_type`` (a class) or a base class of it has."""
    for cls in getattr(neck_type, '__mro__', ()):
        if cls.__name__ in table and cls.__module__.startswith(('mmdet.', 'ghostdet.')):
            return table[cls.__name__]
    return None


def _compare_neck_channels(backbone: nn.Module, necks: Sequence[nn.Module], index: int,
                           in_channels: Any, order: str, neck_cfg: Optional[dict] = None,
                           neck_type: Any = None, listed: bool = True) -> None:
    """Compare the ``in_channels`` of the ``index``-th neck (its ``order`` in ``NECK_INPUTS``)
    with what the backbone, then ``necks[:index]``, output. ``neck_cfg``, ``neck_type``: the
    first neck's config and class, for ``NECK_REPEATS``; ``listed``: the config has a list of
    necks (``model.neck.<index>``)."""
    if not _is_channels(in_channels) or isinstance(in_channels, int) != (order in ONE_NUMBER):
        return  # another form than mmdet's: the neck's own checks will tell
    found = (_measured(feature_channels, backbone, nn.Sequential(*necks[:index])) if index
             else _measured(backbone_out_channels, backbone))
    if found is None:
        return
    setting = f'model.neck.{index}.in_channels' if listed else 'model.neck.in_channels'
    maker = _output_of(backbone, necks[:index], ' before it')
    if order in ONE_NUMBER:
        expected, widths = int(in_channels), (found[-1:] if order == 'deepest only' else found)
        if all(w == expected for w in widths):
            return
        fix = f'set {setting}={widths[0]}' if len(set(widths)) == 1 else ''
        what = _maps(found) + (', the neck takes the last' if len(found) > 1 and order ==
                               'deepest only' else '' if fix else
                               ', the neck takes maps of one width only')
    else:
        expected = [int(c) for c in in_channels]
        wanted = {'deepest first': found[::-1], 'after the image': found[1:]}.get(order, found)
        if wanted == expected:
            return
        what = _maps(found) if order != 'after the image' else f'the image and {_maps(wanted)}'
        fix = (f'set {setting}={wanted}'
               + (' (deepest map first)' if order == 'deepest first' else '')
               + _repeated_fix(setting, neck_cfg, neck_type, expected, wanted))
    raise NeckChannelsMismatchError(
        f'{setting}={expected}, but {maker} {what}'
        + (f': {fix}' if fix else '')
        + (", or the backbone's out_indices to the maps the neck expects"
           if fix and index == 0 else ''))


def _measured(probe: Callable, *args: Any) -> Optional[list]:
    """``probe(*args)`` as a list; None where the probe fails: it checks nothing then (the
    first forward will say why)."""
    try:
        return list(probe(*args))
    except Exception:  # noqa: BLE001
        return None


def _neck_list(neck: Optional[nn.Module]) -> list:
    """The necks of a model's ``neck`` (a list of necks is built as an ``nn.Sequential``)."""
    return list(neck) if isinstance(neck, nn.Sequential) else [] if neck is None else [neck]


def _output_of(backbone: nn.Module, necks: Sequence[nn.Module], where: str = '') -> str:
    """'the backbone (GhostNet) outputs', 'the necks<where> (FPN, BFP) output'."""
    if not necks:
        return f'the backbone ({type(backbone).__name__}) outputs'
    names = ', '.join(type(n).__name__ for n in necks)
    return f'the necks{where} ({names}) output' if len(necks) > 1 else \
        f'the neck{where} ({names}) outputs'


def _maps(values: Sequence[int], what: str = 'channels') -> str:
    """'3 feature maps of [40, 112, 960] channels', '1 feature map of strides [32]'."""
    count = f'{len(values)} feature map{"s" if len(values) != 1 else ""}'
    return f'{count} of {list(values)} {what}' if what == 'channels' else \
        f'{count} of {what} {list(values)}'


def _repeated_fix(setting: str, neck_cfg: Optional[dict], neck_type: Any, old: list,
                  new: list) -> str:
    key = _neck_inputs(neck_type, NECK_REPEATS)
    value = (neck_cfg or {}).get(key) if key else None
    if not _is_channels(value) or isinstance(value, int) or list(value)[:len(old)] != old:
        return ''
    return f' and {setting.rsplit(".", 1)[0]}.{key}={new + list(value)[len(old):]}'


def _compare_head_channels(model: Any, backbone: nn.Module, neck: Optional[nn.Module],
                           probed: Optional[list] = None) -> None:
    """``model``: the built detector or its config; settings are read alike from both.
    ``probed``: what :func:`_probed` gave for ``backbone`` and ``neck``, if it ran already."""
    settings = list(_head_settings(model))
    if not settings:
        return
    maps = ([c for c, _ in probed[1]] if probed is not None
            else _measured(feature_channels, backbone, neck))
    if maps is None:
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
        necks = _neck_list(neck)
        raise HeadChannelsMismatchError(
            f'{", ".join(wrong)}, but {_output_of(backbone, necks)} {_maps(maps)}'
            + (f': set {", ".join(fixes)}' if fixes else '')
            + ''.join(f'; {u}' for u in unfixable))


def feature_strides(backbone: nn.Module, neck: Optional[nn.Module] = None,
                    size: int = STRIDE_PROBE_SIZE) -> Tuple[Optional[int], ...]:
    """Stride of each map the heads get (``size`` over the map's width, for a ``size`` x
    ``size`` zero image through ``backbone`` and ``neck``; None where that is not a whole
    number); eval mode, no autograd, as :func:`feature_channels`."""
    return tuple(_strides_of(*_probed(backbone, neck, (size, ))))


def _strides_of(size: int, maps: Sequence[Tuple[int, int]]) -> List[Optional[int]]:
    return [size // w if w and size % w == 0 else None for _, w in maps]


def _head_strides(model: Any) -> Iterator[Tuple[str, list, str]]:
    """(``model.<path>.<key>``, strides, span) for each of ``HEAD_STRIDES`` the detector's
    config has in a form that can be compared."""
    for path, key, span in HEAD_STRIDES:
        part = _lookup(model, path)
        generator = _lookup(part, key.rsplit('.', 1)[0]) if '.' in key else None
        if 'SSD' in str(_lookup(generator, 'type')):
            continue
        strides = _strides(_lookup(part, key))
        if strides:
            yield f'model.{path}.{key}', strides, span


def _compare_head_strides(settings: Sequence[Tuple[str, list, str]], backbone: nn.Module,
                          neck: Optional[nn.Module], probed: Optional[list]) -> None:
    """``settings``: from :func:`_head_strides`; ``probed``: :func:`_probed` at
    ``STRIDE_PROBE_SIZE`` (None: the probe failed, nothing is checked)."""
    if not settings or probed is None:
        return
    size, maps = probed
    found = _strides_of(size, maps)
    if None in found:
        return
    wrong, fixes = [], []
    for name, strides, span in settings:
        wanted = found[:len(strides)] if span == 'first' else found
        if strides != wanted:
            wrong.append(f'{name}={strides}')
            fixes.append(f'{name}={wanted}')
    if wrong:
        raise HeadStridesMismatchError(
            f'{", ".join(wrong)}, but {_output_of(backbone, _neck_list(neck))} '
            f'{_maps(found, "strides")} '
            f'(a {size}x{size} image gives maps {[w for _, w in maps]} wide): set '
            f'{", ".join(fixes)}, or change the maps (the backbone\'s out_indices, the neck\'s '
            'start_level) to the strides the heads expect')


def _strides(value: Any) -> Optional[list]:
    """A list of strides as ints (an ``(x, y)`` pair of one value counts as that value);
    None for other forms (floats, unequal pairs)."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    strides = []
    for item in value:
        if isinstance(item, (list, tuple)) and len(set(item)) == 1:
            item = item[0]
        if not isinstance(item, int) or isinstance(item, bool):
            return None
        strides.append(item)
    return strides


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
