"""Hooks: stop bad runs early with a message that says what went wrong and where, resume with
the config's schedule, keep the random state and the place in its epoch with each checkpoint,
show test progress, test a model with its BatchNorms folded as deployment runs it or with the
inference options of ``ghostdet.models.inference_options``, and draw test pictures that do not
overwrite each other."""
import collections
import copy
import math
import os.path as osp
import random
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from mmengine.hooks import Hook
from mmdet.engine.hooks import DetVisualizationHook
from mmdet.registry import HOOKS

from ..datasets.checks import image_folder, image_name
from ..models.fuse import fuse_conv_bn
from ..models.inference_options import InferenceOptions, accelerate
from ..models.synthetic_inputs import synthetic_batch
from ..models.utils import (check_state_dict_keys, inner_model, reparameterize,
                            strip_ddp_prefix)


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training when the loss is NaN or infinite, naming the iteration and the loss terms.

    It runs before ``CheckpointHook`` (priority ``VERY_HIGH`` vs ``VERY_LOW``), so the step
    with the bad loss is never saved: the last checkpoint on disk is the last good one.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or 'loss' not in outputs:
            return
        values = {k: float(v.detach()) if hasattr(v, 'detach') else float(v)
                  for k, v in outputs.items()}
        loss = values['loss']
        if math.isfinite(loss):
            return
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        last = self._last_checkpoint(runner)
        raise FloatingPointError(
            f'loss is {loss} at iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
            f'batch {batch_idx + 1}); non-finite terms: {bad}. Training stopped before this '
            'step was saved; '
            + (f'the last good checkpoint is {last}.' if last else 'no checkpoint was saved yet.')
            + ' Lower the learning rate or add optim_wrapper.clip_grad.')

    @staticmethod
    def _last_checkpoint(runner) -> Optional[str]:
        """The newest checkpoint saved in the work dir, else the one the run resumed from."""
        from mmengine.runner import find_latest_checkpoint
        resumed = runner._load_from if getattr(runner, '_resume', False) else None
        return find_latest_checkpoint(runner.work_dir) or resumed


@HOOKS.register_module()
class CheckpointKeysHook(Hook):
    """Refuse a ``load_from`` (or ``--resume``, or test) checkpoint whose weights do not cover
    the model.

    mmengine loads checkpoints with ``strict=False`` and goes on training whatever did not
    match from scratch. This hook runs at ``after_load_checkpoint``, when the file has been read
    and before any weight is applied, and raises an error listing the missing, unexpected and
    mismatched keys.

    Args:
        ignore_prefixes (Sequence[str]): Keys to leave out of the check, e.g. the
            class-dependent layers when fine-tuning to another number of classes
            (``['bbox_head.retina_cls']``). Defaults to ().
    """

    priority = 'VERY_HIGH'

    def __init__(self, ignore_prefixes: Sequence[str] = ()) -> None:
        self.ignore_prefixes = tuple(ignore_prefixes)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from mmengine.runner import find_latest_checkpoint
        # mmengine strips DDP's prefix when it applies the weights: do the same here
        state_dict = strip_ddp_prefix(checkpoint.get('state_dict', checkpoint))
        model = inner_model(runner.model)
        source = runner._load_from or find_latest_checkpoint(runner.work_dir) or 'checkpoint'
        check_state_dict_keys(model, state_dict, self.ignore_prefixes,
                              source=f'checkpoint {source}')


# What a parameter scheduler's steps change in its state_dict (and ``verbose``, a display
# setting); the rest is its plan (the config's begin, end, milestones, gamma, T_max, ...).
SCHEDULER_PROGRESS = frozenset(('base_values', 'last_step', '_global_step', '_last_value',
                                'verbose'))


@HOOKS.register_module()
class ResumeScheduleHook(Hook):
    """Resume with the config's learning-rate schedule and optimizer settings, not the
    checkpoint's.

    mmengine restores on ``--resume`` each scheduler's whole state, its steps so far and its
    plan too (``end``, ``milestones``, ``gamma``, ...), and the optimizer's settings (``lr``,
    ``weight_decay``, ...) with its state: a run resumed to train longer, with ``end`` and
    ``milestones`` changed in the config, kept the checkpoint's plan without a word
    (open-mmlab/mmengine#1565), and so did a changed ``lr``, or the rate ``auto_scale_lr``
    scales for another batch size (scaled before the optimizer's state puts the old one
    back). This hook, at ``after_load_checkpoint`` of a resume,
    puts the config's plan and settings into the checkpoint before mmengine applies it,
    keeping the steps, and logs each one it changed. A scheduled setting (``lr``) whose base
    changed is scaled where it stands (current value times new base over old), as the
    schedule would have it from the new base. The new plan takes effect from the resumed step
    on: steps already trained are not recomputed (a milestone moved behind the resumed epoch
    does not lower the rate). A config whose schedulers differ in number or kind from the
    checkpoint's is refused (mmengine pairs them by position). A resumed run with nothing left
    to train (a finished run, resumed) says so."""

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        """Say that a resumed run has nothing left to train (mmengine ends it in silence)."""
        loop = runner.train_loop
        if not getattr(runner, '_resume', False) or loop.iter == 0 or loop.iter < loop.max_iters:
            return
        # (an epoch loop's epoch counter may stand one lower: a checkpoint saved by iteration
        # at an epoch's last batch comes before that epoch's end)
        length = (f'train_cfg.max_epochs={loop.max_epochs} epochs' if hasattr(loop, 'max_epochs')
                  else f'train_cfg.max_iters={loop.max_iters}')
        runner.logger.warning(
            f'the checkpoint is at iteration {loop.iter}, the last of {length}: no training '
            'iteration is left. To train on, raise it in the config, with the schedule\'s end '
            'and milestones, and resume again')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return
        states = self._scheduler_states(runner, checkpoint)
        changes = self._schedule_changes(states) + self._optimizer_changes(runner, checkpoint,
                                                                           states)
        if changes:
            runner.logger.warning(
                'resuming with the config\'s settings where they differ from the checkpoint\'s '
                '(which mmengine would keep): ' + ', '.join(changes) + '; from the resumed step '
                'on (the steps already trained are not recomputed)')

    def _schedule_changes(self, states: List[Tuple[str, Any, dict]]) -> List[str]:
        changes = []
        for name, scheduler, state in states:
            plan = {k: v for k, v in scheduler.state_dict().items()
                    if k not in SCHEDULER_PROGRESS}
            if set(plan) != set(state) - SCHEDULER_PROGRESS:
                raise ValueError(f'{name} is a {type(scheduler).__name__} with other '
                                 f'settings than the checkpoint\'s: {self._remedy}')
            changed = [key for key, value in plan.items() if state[key] != value]
            for key in changed:
                changes.append(f'{name}.{key} {_plain(state[key])} -> {_plain(plan[key])}')
                state[key] = copy.deepcopy(plan[key])
            if {'begin', 'end'} & set(changed):  # mmengine counts steps in [begin, end)
                state['last_step'] = max(min(state['_global_step'], state['end'] - 1)
                                         - state['begin'], -1)  # as the new range would
        return changes

    def _scheduler_states(self, runner, checkpoint: dict) -> List[Tuple[str, Any, dict]]:
        """``(setting, scheduler built from the config, its state in the checkpoint)``."""
        current = getattr(runner, 'param_schedulers', None)
        if current is None or 'param_schedulers' not in checkpoint:
            return []
        saved = checkpoint['param_schedulers']
        groups = ([(f'param_scheduler.{name}', current[name], saved.get(name))
                   for name in current] if isinstance(current, dict)
                  else [('param_scheduler', current, saved)])
        pairs = []
        for setting, schedulers, states in groups:
            if not isinstance(states, list) or len(states) != len(schedulers):
                raise ValueError(
                    f'the config has {len(schedulers)} {setting} entries, the checkpoint '
                    f'{len(states) if isinstance(states, list) else "none"}: {self._remedy}')
            pairs += [(f'{setting}.{index}' if len(schedulers) > 1 else setting, scheduler,
                       state) for index, (scheduler, state) in enumerate(zip(schedulers, states))]
        return pairs

    def _optimizer_changes(self, runner, checkpoint: dict,
                           states: List[Tuple[str, Any, dict]]) -> List[str]:
        optimizer = getattr(getattr(runner, 'optim_wrapper', None), 'optimizer', None)
        saved = checkpoint.get('optimizer')
        if optimizer is None or not isinstance(saved, dict) or not isinstance(
                saved.get('param_groups'), list):
            return []
        groups, saved_groups = optimizer.param_groups, saved['param_groups']
        if len(groups) != len(saved_groups):  # mmengine's load names that
            return []
        changes = []
        for index, (group, was) in enumerate(zip(groups, saved_groups)):
            where = 'optimizer' + (f' param group {index}' if len(groups) > 1 else '')
            for key, value in group.items():
                if key.startswith('initial_') or key not in was or not _is_number(value):
                    continue
                if f'initial_{key}' in group:  # scheduled: its base is the config's value
                    base, old = group[f'initial_{key}'], was.get(f'initial_{key}', was[key])
                    scalars = not isinstance(base, (tuple, list)) and not isinstance(
                        old, (tuple, list)) and _is_number(base) and _is_number(old)
                    if not scalars or not old or math.isclose(base, old, rel_tol=1e-9):
                        continue  # (a scheduled tuple, such as betas, is left as it was)
                    ratio = base / old
                    was[key], was[f'initial_{key}'] = was[key] * ratio, base
                    for _, scheduler, state in states:
                        if scheduler.param_name == key:
                            state['base_values'][index] = base
                            state['_last_value'][index] *= ratio
                    changes.append(f'{where} {key} {old:g} -> {base:g} (where it stands, '
                                   f'times {ratio:g})')
                elif was[key] != value:
                    changes.append(f'{where} {key} {_plain(was[key])} -> {_plain(value)}')
                    was[key] = copy.deepcopy(value)
        return changes

    _remedy = ('a resumed run keeps its schedulers, whose steps so far the checkpoint holds: '
               'change their settings (end, milestones, ...), not their number or kinds, or '
               'start a new run from its weights with --cfg-options load_from=CHECKPOINT and '
               'no --resume')


def _is_number(value: Any) -> bool:
    """A number or a tuple of numbers (``betas``); not a bool (``nesterov``, ``foreach``)."""
    if isinstance(value, (tuple, list)):
        return bool(value) and all(_is_number(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """A setting as the config writes it: milestones a sorted list, not a Counter; numbers
    as ``:g`` writes them (0, not 0.0)."""
    if isinstance(value, collections.Counter):
        return sorted(value.elements())
    if isinstance(value, float):
        return f'{value:g}'
    if isinstance(value, tuple):
        return '(' + ', '.join(str(_plain(v)) for v in value) + ')'
    return value


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """A progress bar over the images of a validation or test run (on the main process)."""

    priority = 'LOW'

    def __init__(self) -> None:
        self._bar = None

    def _start(self, runner, dataloader) -> None:
        from mmengine.dist import is_main_process
        from mmengine.utils import ProgressBar
        # file: the stdout of now (mmengine's default is that of its import)
        self._bar = (ProgressBar(len(dataloader.dataset), file=sys.stdout)
                     if is_main_process() else None)

    def _update(self, data_batch) -> None:
        if self._bar is not None:
            self._bar.update(len(data_batch['inputs']) if data_batch else 1)

    def _finish(self) -> None:
        if self._bar is not None:
            self._bar.file.write('\n')
            self._bar = None

    def before_test_epoch(self, runner) -> None:
        self._start(runner, runner.test_dataloader)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._update(data_batch)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._finish()

    def before_val_epoch(self, runner) -> None:
        self._start(runner, runner.val_dataloader)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._update(data_batch)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._finish()


@HOOKS.register_module()
class FileNameVisualizationHook(DetVisualizationHook):
    """mmdet's ``DetVisualizationHook``, its test pictures named by the image's path under the
    test set's image folder (the annotation's ``file_name``: ``cam1/0001.jpg``) instead of by
    its file name alone, under which ``cam1/0001.jpg`` and ``cam2/0001.jpg`` overwrote each
    other in ``tools/test.py --show-dir``. An image outside that folder keeps its file name."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pictures_dir = self.test_out_dir  # mmdet's after_test_iter rewrites test_out_dir

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        if self.draw is False or self._pictures_dir is None:
            return super().after_test_iter(runner, batch_idx, data_batch, outputs)
        pictures = osp.abspath(osp.join(runner.work_dir, runner.timestamp, self._pictures_dir))
        root = image_folder(runner.test_dataloader.dataset)
        for data_sample in outputs:  # mmdet's drawing, one image at a time, into its folder
            img_path = data_sample.img_path
            folder = osp.dirname(image_name(img_path, root))
            self.test_out_dir = osp.join(pictures, folder)  # absolute: kept as is
            super().after_test_iter(runner, batch_idx, data_batch, [data_sample])


@HOOKS.register_module()
class FuseConvBNHook(Hook):
    """Before testing, fold each BatchNorm of the loaded model into the convolution before it,
    as deployment does (``tools/test.py --fuse-conv-bn``), so that the metrics are the folded
    model's. The fold is checked first (:func:`ghostdet.models.fuse_conv_bn`, on a synthetic
    batch of ``shape``); a model whose fold would change its outputs is refused.

    Args:
        shape (tuple[int, int]): ``(H, W)`` of the check's synthetic batch. Defaults to
            (256, 256).
    """

    priority = 'VERY_HIGH'  # before any other hook sees the test model

    def __init__(self, shape: Tuple[int, int] = (256, 256)) -> None:
        self.shape = tuple(shape)

    def before_test(self, runner) -> None:
        model = inner_model(runner.model)
        img, _ = synthetic_batch(model, self.shape)
        _, folded, diff = fuse_conv_bn(model, img, inplace=True)
        runner.logger.info(
            f'folded {folded} BatchNorm layers into the convolutions before them (the check, '
            f'with random BatchNorm statistics, differs by at most {diff:.2g} of the outputs\' '
            'magnitude)')


@HOOKS.register_module()
class InferenceOptionsHook(Hook):
    """Before testing, apply inference options to the loaded model (``tools/test.py --fp16
    --channels-last --cuda-graph --fuse-conv-bn``), so that the metrics are those of the model
    as it runs with them. Each option is checked first against the fp32 eager outputs on two
    synthetic batches of ``shape`` (:func:`ghostdet.models.accelerate`); one that changes them
    beyond its tolerance stops the test, named.

    Args:
        fuse_bn (bool): Fold each BatchNorm. Defaults to False.
        channels_last (bool): NHWC memory layout. Defaults to False.
        fp16 (bool): fp16 weights; CUDA only. Defaults to False.
        cuda_graph (bool): CUDA graphs per input shape; CUDA only. Defaults to False.
        shape (tuple[int, int]): ``(H, W)`` of the check's batches. Defaults to (320, 320).
    """

    priority = 'VERY_HIGH'  # before any other hook sees the test model

    def __init__(self,
                 fuse_bn: bool = False,
                 channels_last: bool = False,
                 fp16: bool = False,
                 cuda_graph: bool = False,
                 shape: Tuple[int, int] = (320, 320)) -> None:
        self.options = InferenceOptions(fuse_bn, channels_last, fp16, cuda_graph)
        self.shape = tuple(shape)

    def before_test(self, runner) -> None:
        report = accelerate(inner_model(runner.model), self.options, shape=self.shape)
        runner.logger.info(report.summary())


@HOOKS.register_module()
class ReparameterizeHook(Hook):
    """Before testing, fold the loaded model's re-parameterisable modules (GhostNetV3's
    training branches) into single convolutions (:func:`ghostdet.models.utils.reparameterize`,
    logged), so that the metrics are the deployed model's. An EMA hook's averaged copy is
    folded with it, so that its swaps around the test keep matching the model.
    """

    priority = 'HIGHEST'  # before FuseConvBNHook folds the branches' own BatchNorms

    def before_test(self, runner) -> None:
        reparameterize(inner_model(runner.model))
        for hook in runner.hooks:
            if getattr(hook, 'ema_model', None) is not None:
                reparameterize(hook.ema_model)


RANDOM_STATES = 'random_states'  # the checkpoint's key


def get_random_states() -> Dict[str, Any]:
    """This process's random generators: Python's, numpy's global one, torch's CPU one and,
    where CUDA is in use, the current GPU's (the one a distributed process trains on). Plain
    ints, lists and tensors, which ``torch.load(weights_only=True)`` reads."""
    name, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    states = dict(python=random.getstate(),
                  numpy=(name, key.tolist(), int(pos), int(has_gauss), float(gauss)),
                  torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state()
    return states


def set_random_states(states: Dict[str, Any]) -> None:
    """Put back what :func:`get_random_states` returned (the GPU's, on the current GPU, where
    CUDA is available)."""
    python = states['python']
    random.setstate((python[0], tuple(python[1]), python[2]))
    name, key, pos, has_gauss, gauss = states['numpy']
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random generators' state in every checkpoint, for
    :class:`~ghostdet.engine.ResumableEpochBasedTrainLoop` to put back when it resumes from it.

    mmengine saves the seed, not the state: a resumed run draws its random flips, crops and
    samples from the seed again, so it trains on other draws than the run it continues. The
    loop registers this hook itself (configs name it only to keep the state with another
    loop, which does not put it back). After loading a checkpoint the hook only keeps the
    state (:meth:`take_resumed_states`): a ``load_from`` start must not take a finished run's
    draws, and the loop knows when the state is due.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._loaded: Optional[Dict[str, Any]] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RANDOM_STATES] = get_random_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(RANDOM_STATES)

    def take_resumed_states(self) -> Optional[Dict[str, Any]]:
        """The state in the last checkpoint loaded (None where it had none), once."""
        states, self._loaded = self._loaded, None
        return states


TRAIN_POSITION = 'train_position'  # the checkpoint's key


@HOOKS.register_module()
class TrainPositionHook(Hook):
    """Save with every checkpoint where the epoch loop stands in its epoch (the epoch, the
    iteration its first batch had, its number of batches), for
    :class:`~ghostdet.engine.ResumableEpochBasedTrainLoop` to resume at the right batch.

    The checkpoint's epoch and iteration alone tell where in the epoch it was saved only while
    every epoch has had the same number of batches as this run's: a run resumed with another
    batch size, number of processes or training set has another, and one resumed from such a
    run has iterations that are no longer a multiple of it. The loop registers this hook; after
    loading a checkpoint the hook only keeps what the loop needs (:meth:`take_loaded`).
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._loaded: Optional[Dict[str, Any]] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        position = getattr(runner.train_loop, 'position', None)
        if position is not None:
            checkpoint[TRAIN_POSITION] = position()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta') or {}
        info = (checkpoint.get('message_hub') or {}).get('runtime_info') or {}
        self._loaded = dict(epoch=meta.get('epoch'), iter=meta.get('iter'),
                            position=checkpoint.get(TRAIN_POSITION),
                            max_epochs=info.get('max_epochs'), max_iters=info.get('max_iters'))

    def take_loaded(self) -> Optional[Dict[str, Any]]:
        """The last loaded checkpoint's epoch and iteration (its ``meta``), its position (None
        where it has none) and the ``max_epochs`` and ``max_iters`` its run had; once."""
        loaded, self._loaded = self._loaded, None
        return loaded

