"""An epoch-based training loop that resumes mid-epoch without repeating or adding iterations,
and with the random state the checkpoint was saved with."""
import logging

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmdet.registry import LOOPS

from .hooks import RandomStateHook, set_random_states


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
    """

    def __init__(self, runner, *args, **kwargs) -> None:
        super().__init__(runner, *args, **kwargs)
        self._random_states_taken = False
        if not any(isinstance(h, RandomStateHook) for h in runner.hooks):
            runner.register_hook(RandomStateHook())

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
        done = self._iter - self._epoch * len(self.dataloader)
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
