"""Config files named by path or ``package::path``, found and checked the same way by every
entry point (train, test, demo, the analysis tools, the study), and ``--cfg-options`` checked
for entries that would change nothing."""
import copy
import difflib
import sys
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union


def resolve_config_path(config: Union[str, Path]) -> Path:
    """The file of ``config``; ``package::relative/path.py`` (as configs' ``_base_`` use it) is
    looked up in the installed package's ``.mim/configs``, e.g. ``mmdet::retinanet/...``.

    Args:
        config (str or Path): A file path or ``package::path``.

    Returns:
        Path: The config file (not checked for existence).
    """
    config = str(config)
    if '::' not in config:
        return Path(config)
    from mmengine.utils import get_installed_path

    package, relative = config.split('::', 1)
    return Path(get_installed_path(package)) / '.mim' / 'configs' / relative


def config_file(config: Union[str, Path]) -> Path:
    """The existing file that ``config`` names (see :func:`resolve_config_path`).

    Raises:
        FileNotFoundError: ``config file not found: <config>``, followed by the looked-up
            file in brackets where that differs from what was given.
    """
    path = resolve_config_path(config)
    if not path.is_file():
        raise FileNotFoundError(f'config file not found: {config}'
                                + (f' ({path})' if str(path) != str(config) else ''))
    return path


# Top-level settings the tools set from their own options after --cfg-options are merged, so an
# option for them would be overwritten: the setting, and the tool option that sets it.
TOOL_SET_KEYS = {'launcher': '--launcher'}

# Top-level settings something reads after a config file is parsed: the arguments of mmengine's
# Runner.from_cfg, what the Runner reads from its cfg later, mmdet's test-time augmentation.
# Every other top-level name of a config file (data_root, max_epochs, lr, train_pipeline, ...)
# is a variable: the settings that use it took its value when the file was read (as
# custom_imports was imported then).
RUNTIME_KEYS = frozenset((
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor',
    'load_from', 'resume', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'experiment_name', 'runner_type', 'model_wrapper_cfg',
    'find_unused_parameters', 'compile', 'activation_checkpointing', 'efficient_conv_bn_eval',
    'sync_bn', 'tta_model', 'tta_pipeline'))


def check_cfg_options(cfg: Any, options: Optional[dict]) -> None:
    """Refuse a ``--cfg-options`` entry that would change nothing, where mmengine merges it
    without a word: a top-level name that is a variable of the config file (``data_root=...``,
    ``max_epochs=24``: the settings that use it were set from it when the file was read), one
    the config does not have and nothing reads (``train_dataloder.batch_size=4``), or one a
    tool option sets after the merge (``launcher``: ``--launcher``).

    Raises:
        ValueError: Naming the option, why it changes nothing, and the settings to override
            instead (those holding the variable's value) or the closest name.
    """
    for key, value in (options or {}).items():
        top = str(key).split('.', 1)[0]
        if top in RUNTIME_KEYS:
            continue
        option = f'--cfg-options {key}={value}'
        if top in TOOL_SET_KEYS:
            raise ValueError(
                f'{option} changes nothing: the tools set {top} from their own '
                f'{TOOL_SET_KEYS[top]} option after the config is read: pass '
                f'{TOOL_SET_KEYS[top]} {value} to tools/train.py or tools/test.py '
                '(tools/dist_train.sh and dist_test.sh pass --launcher pytorch)')
        if top in cfg:
            current = cfg[top]
            holders = _settings_holding(cfg, current)
            held = ('; those holding that value now: ' + ', '.join(holders[:6])
                    + (f' and {len(holders) - 6} more' if len(holders) > 6 else '')
                    if holders else '')
            raise ValueError(
                f'{option} changes nothing: {top} is a variable of the config file, and the '
                f'settings that use it took its value ({_short(current)}) when the file was '
                f'read; override those settings instead{held}')
        close = difflib.get_close_matches(top, sorted(set(cfg.keys()) | RUNTIME_KEYS), n=1)
        raise ValueError(
            f'{option} changes nothing: the config has no {top}, and neither mmengine\'s '
            'Runner nor ghostdet reads it' + (f'; did you mean {close[0]}?' if close else
                                              ' (a setting of your own: put it in the config)'))


def walk_config(node: Any, path: str) -> Iterator[Tuple[str, Any]]:
    """``(dotted setting, value)`` of ``node`` (named ``path``) and of everything inside it,
    through dicts and lists (a list item's setting is its index, as ``--cfg-options`` writes
    it: ``param_scheduler.1.end``)."""
    yield path, node
    items = (node.items() if isinstance(node, dict)
             else enumerate(node) if isinstance(node, (list, tuple)) else ())
    for name, value in items:
        yield from walk_config(value, f'{path}.{name}')


def _settings_holding(cfg: Any, value: Any) -> List[str]:
    """Dotted paths of the runtime settings equal to ``value`` (strings: also those that start
    with it, as ``ann_file=data_root + '...'`` does); none for booleans, None and containers."""
    if value is None or isinstance(value, (bool, dict, list, tuple)):
        return []
    return sorted(
        path for key in RUNTIME_KEYS & set(cfg.keys()) for path, node in walk_config(cfg[key], key)
        if type(node) is type(value) and (node == value or isinstance(value, str)
                                          and len(value) > 2 and node.startswith(value)))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _train_length(train_cfg: Any) -> Optional[Tuple[str, str, bool, Any]]:
    """``('max_epochs', 'epoch', True, length)`` or ``('max_iters', 'iteration', False,
    length)``: the setting, its unit, the ``by_epoch`` of schedulers counted in it, and the
    length; None without either."""
    if not isinstance(train_cfg, dict):
        return None
    for key, unit, by_epoch in (('max_epochs', 'epoch', True), ('max_iters', 'iteration', False)):
        if train_cfg.get(key) is not None:
            return key, unit, by_epoch, train_cfg[key]
    return None


def _schedulers(cfg: Any) -> List[Tuple[str, dict]]:
    """``(setting, scheduler)`` of each dict in ``cfg.param_scheduler``, named as
    ``--cfg-options`` names them (``param_scheduler.1``; ``param_scheduler`` alone)."""
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        return [('param_scheduler', schedulers)]
    return [(f'param_scheduler.{index}' if len(schedulers) > 1 else 'param_scheduler', scheduler)
            for index, scheduler in enumerate(schedulers) if isinstance(scheduler, dict)]


def schedule_length_notes(train_cfg_before: Any, cfg: Any) -> List[str]:
    """What a changed training length leaves behind: each ``param_scheduler`` that ended where
    training ended before (``end == max_epochs``, in the same unit) and still ends there, as
    ``train_cfg.max_epochs=24`` on a 12-epoch config leaves its MultiStepLR at ``end=12,
    milestones=[8, 11]`` (epochs 13-24 then train at its final learning rate)."""
    return [note for _, note in _length_notes(train_cfg_before, cfg)]


def _length_notes(train_cfg_before: Any, cfg: Any) -> List[Tuple[str, str]]:
    """``(setting, note)`` of :func:`schedule_length_notes`."""
    before, after = _train_length(train_cfg_before), _train_length(cfg.get('train_cfg'))
    if before is None or after is None or before[0] != after[0] or before[3] == after[3]:
        return []
    key, unit, by_epoch, old = before
    new = after[3]
    notes = []
    for setting, scheduler in _schedulers(cfg):
        if not (scheduler.get('end') == old and scheduler.get('by_epoch', True) == by_epoch):
            continue
        what = f'{setting} ({scheduler.get("type")}' + (
            f', milestones {list(scheduler["milestones"])})' if scheduler.get('milestones')
            else ')')
        effect = (f'{unit}s {old + 1}-{new} train at its final learning rate' if new > old
                  else f'training stops at {unit} {new}, before its end')
        notes.append((setting, (
            f'train_cfg.{key} is {new}, but {what} still ends at {unit} {old}, where '
            f'training ended before: {effect}; set {setting}.end={new}'
            + (' and its milestones' if scheduler.get('milestones') else '')
            + ' to fit the schedule to the new length')))
    return notes


def unreached_milestone_notes(cfg: Any, skip: Sequence[str] = ()) -> List[str]:
    """Each scheduler (but those named in ``skip``) with milestones that never come: mmengine
    counts a scheduler's milestones from its ``begin`` and steps it only before its ``end``
    and before training ends, so ``milestones=[8, 11]`` with ``train_cfg.max_epochs=6`` (or
    ``end=6``) never lowers the learning rate, without a word. Schedulers counted in another
    unit than the training loop (a warm-up in iterations in an epoch loop) are left out."""
    length = _train_length(cfg.get('train_cfg'))
    if length is None:
        return []
    key, unit, by_epoch, total = length
    notes = []
    for setting, scheduler in _schedulers(cfg):
        milestones = scheduler.get('milestones')
        if (setting in skip or not isinstance(milestones, (list, tuple)) or not milestones
                or scheduler.get('by_epoch', True) != by_epoch):
            continue
        begin, end = scheduler.get('begin', 0), scheduler.get('end')
        stop, stopper = total, f'training ends (train_cfg.{key}={total})'
        if isinstance(end, int) and end < total:
            stop, stopper = end, f'it ends ({setting}.end={end})'
        late = [m for m in milestones if isinstance(m, int) and begin + m >= stop]
        if not late:
            continue
        at = ' and '.join(str(begin + m) for m in late)
        notes.append(
            f'{setting} ({scheduler.get("type")}, milestones {list(milestones)}'
            + (f' counted from begin={begin}' if begin else '') + ') lowers the learning '
            f'rate after {unit}{"s" if len(late) > 1 else ""} {at}, but {stopper} after '
            f'{unit} {stop}: the learning rate is never lowered there; set '
            f'{setting}.milestones below {stop - begin}')
    return notes


def merge_cfg_options(cfg: Any, options: Optional[dict], training: bool = False) -> None:
    """``cfg.merge_from_dict(options)`` after :func:`check_cfg_options`. With ``training``
    (what ``tools/train.py`` loads), a learning-rate schedule that does not fit the training
    length is said on stderr: one a changed length left behind
    (:func:`schedule_length_notes`), milestones that never come
    (:func:`unreached_milestone_notes`), with or without options."""
    train_cfg_before = copy.deepcopy(cfg.get('train_cfg'))
    if options:
        check_cfg_options(cfg, options)
        cfg.merge_from_dict(options)
    if training:
        length = _length_notes(train_cfg_before, cfg)
        named = [setting for setting, _ in length]
        for note in [n for _, n in length] + unreached_milestone_notes(cfg, skip=named):
            print(f'warning: {note}', file=sys.stderr)
