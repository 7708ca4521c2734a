"""An epoch-based training loop that resumes mid-epoch without repeating or adding iterations,
and with the random state the checkpoint was saved with."""
import logging
from typing import Any, Dict, Tuple

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmdet.registry import LOOPS

from .hooks import RandomStateHook, TrainPositionHook, set_random_states


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop``, plus: after resuming from a checkpoint saved in the
    middle of an epoch (``CheckpointHook(by_epoch=False)``), the batches of that epoch that were
    already trained are skipped, so a killed run that resumes ends with exactly the iterations
    (and the same data order, the sampler being seeded per epoch) of an uninterrupted run.
    mmengine's own loop replays the whole epoch and overshoots ``max_iters``.

    Skipped batches are still drawn from the dataloader (their images are loaded and dropped,
    which costs their loading time once): with workers that are not persistent, the workers'
    random draws then run as in the uninterrupted run. A checkpoint saved by iteration at an
    epoch's last batch loads none: the epoch's end (its hooks, then the validation due after
    it) is all that is left.

    The main process's random generators (Python, numpy, torch, CUDA) are put back as they were
    when the checkpoint was saved, right before the first batch trained
    (:class:`~ghostdet.engine.RandomStateHook`, which this loop registers). So on a CPU with
    ``num_workers=0`` a resumed run trains the very weights of an uninterrupted one
    (tests/test_tools/test_train_test_demo.py). Not put back: persistent workers' generators;
    and after a checkpoint saved by epoch before a validation, the one number the validation's
    dataloader draws from torch's generator (a ``save_best`` checkpoint is saved after it).
    GPU kernels that are not deterministic part runs anyway.

    A run resumed with another number of batches per epoch (another batch size, number of
    processes or training set) starts the next epoch at its first batch, or, from a checkpoint
    saved inside an epoch, that epoch again at its first batch: the batches of the new size
    that the old ones covered cannot be told. It says so; iterations count on from the
    checkpoint's, and ``max_iters`` is the checkpoint's iteration plus the batches left. Where
    in its epoch a checkpoint was saved comes from :class:`~ghostdet.engine.TrainPositionHook`
    (which this loop registers too), or, for a checkpoint saved without it, from its iteration
    and the epochs and iterations of the run that saved it.
    """

    def __init__(self, runner, *args, **kwargs) -> None:
        super().__init__(runner, *args, **kwargs)
        self._random_states_taken = False
        self._start_batch = 0  # batches of the first epoch this process runs already trained
        self._epoch_start_iter = 0  # the iteration the current epoch's first batch had
        for hook_type in (RandomStateHook, TrainPositionHook):
            if not any(isinstance(h, hook_type) for h in runner.hooks):
                runner.register_hook(hook_type())

    def position(self) -> Dict[str, int]:
        """Where the loop stands, for a checkpoint (see :class:`TrainPositionHook`)."""
        return dict(epoch=self._epoch, epoch_start_iter=self._epoch_start_iter,
                    batches_per_epoch=len(self.dataloader))

    def run(self):
        max_iters = self._max_iters
        self._plan_resume()
        if self._max_iters != max_iters:  # the Runner counted with the epochs' full length
            self.runner.optim_wrapper.initialize_count_status(self.runner.model, self._iter,
                                                              self._max_iters)
        return super().run()

    def _plan_resume(self) -> None:
        """From the checkpoint this run resumed from: the batch its epoch starts at, and the
        iterations left (``max_iters``)."""
        hook = next(h for h in self.runner.hooks if isinstance(h, TrainPositionHook))
        loaded = hook.take_loaded()
        if (self._iter == 0 or loaded is None
                or (loaded['epoch'], loaded['iter']) != (self._epoch, self._iter)):
            return  # from iteration 0 (load_from included): every epoch from its first batch
        batches = len(self.dataloader)
        saved_batches, done = checkpoint_position(loaded, batches)
        if done >= saved_batches:
            self._start_batch = batches  # saved at the epoch's last batch: its end is left
        elif saved_batches == batches:
            self._start_batch = done
        if saved_batches != batches:
            where = (f'epoch {self._epoch + 1} starts again at its first batch (its {done} '
                     'batches trained before the checkpoint are trained again, in batches of '
                     'the new size)' if 0 < done < saved_batches else
                     f'epoch {self._epoch + 1 + (done >= saved_batches)} starts at its first '
                     'batch')
            print_log(
                f'the checkpoint was saved with {saved_batches} training batches per epoch and '
                f'this run has {batches} (the batch size, the number of processes or the '
                f'training set changed): {where}', logger='current', level=logging.WARNING)
        epochs_left = max(self._max_epochs - self._epoch, 0)
        self._max_iters = self._iter + (epochs_left * batches - self._start_batch
                                        if epochs_left else 0)

    def _resumed_random_states(self):
        """The random state of the checkpoint this run resumed from, on the first epoch this
        process runs (None on later epochs, in a run started from iteration 0, ``load_from``
        included, or where the checkpoint has none)."""
        if self._random_states_taken:
            return None
        self._random_states_taken = True
        if self._iter == 0:
            return None
        hook = next(h for h in self.runner.hooks if isinstance(h, RandomStateHook))
        states = hook.take_resumed_states()
        if states is None:
            print_log('the checkpoint holds no random state (saved before ghostdet kept it): '
                      'the resumed run draws its random numbers anew from the seed',
                      logger='current', level=logging.WARNING)
        return states

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done, self._start_batch = self._start_batch, 0
        self._epoch_start_iter = self._iter - done
        states = self._resumed_random_states()
        if done >= len(self.dataloader):
            # saved by iteration at the epoch's last batch: only the epoch's end is left (its
            # hooks, and the validation the loop runs after it), no batch to load
            print_log(f'resuming at the end of epoch {self._epoch + 1} (iteration '
                      f'{self._iter})', logger='current')
            if states is not None:
                set_random_states(states)
        elif done > 0:
            print_log(
                f'resuming inside epoch {self._epoch + 1}: skipping its first {done} batches, '
                f'trained before the checkpoint at iteration {self._iter}',
                logger='current')
            batches = iter(self.dataloader)
            for _ in range(done):
                next(batches)
            if states is not None:
                set_random_states(states)
            for idx, data_batch in enumerate(batches, start=done):
                self.run_iter(idx, data_batch)
        else:
            if states is not None:  # saved at an epoch's end by epoch (its number counted)
                set_random_states(states)
            for idx, data_batch in enumerate(self.dataloader):
                self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
        # (a checkpoint saved after this, save_best's after the validation, is at its start)
        self._epoch_start_iter = self._iter


def checkpoint_position(loaded: Dict[str, Any], batches: int) -> Tuple[int, int]:
    """The number of training batches per epoch of the run that saved a checkpoint, and how
    many of them the checkpoint's epoch (``meta['epoch']``, counted from 0) had trained, from
    :meth:`TrainPositionHook.take_loaded`.

    Saved by iteration, the checkpoint's epoch is the one it was saved in; saved by epoch, at
    an epoch's end, it counts that epoch (the position's epoch is one lower) and none of the
    next is trained. Without a position (saved before ghostdet kept it, or by another loop),
    every epoch of the run that saved it had ``max_iters / max_epochs`` batches, as mmengine's
    loop counts them; where the checkpoint lacks those too, ``batches`` (this run's).
    """
    epoch, iteration, position = loaded['epoch'], loaded['iter'], loaded['position']
    if position is not None and epoch == position['epoch']:
        return position['batches_per_epoch'], iteration - position['epoch_start_iter']
    if position is not None and epoch == position['epoch'] + 1:
        return position['batches_per_epoch'], 0
    max_epochs, max_iters = loaded['max_epochs'], loaded['max_iters']
    if max_epochs and max_iters and max_iters % max_epochs == 0:
        batches = max_iters // max_epochs
    return batches, iteration - epoch * batches
