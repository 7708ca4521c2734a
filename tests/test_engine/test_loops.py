"""The resume decisions of ResumableEpochBasedTrainLoop; the loop's training runs are in
tests/test_tools/test_train_test_demo.py (SIGKILL, end-of-epoch and by-epoch resumes)."""
from types import SimpleNamespace

from ghostdet.engine import (RandomStateHook, ResumableEpochBasedTrainLoop, TrainPositionHook,
                             get_random_states)
from ghostdet.engine.loops import checkpoint_position


def loop_at(iteration, hook):
    loop = ResumableEpochBasedTrainLoop.__new__(ResumableEpochBasedTrainLoop)
    loop._runner = SimpleNamespace(hooks=[hook])
    loop._iter = iteration
    loop._random_states_taken = False  # as __init__ leaves it
    return loop


def test_a_resumed_run_takes_the_checkpoints_random_state_once():
    hook = RandomStateHook()
    states = get_random_states()
    hook.after_load_checkpoint(None, {'random_states': states})
    loop = loop_at(6, hook)
    assert loop._resumed_random_states() is states
    loop._iter = 8
    assert loop._resumed_random_states() is None


def test_a_run_from_iteration_0_never_takes_a_loaded_state():
    """``load_from`` a finished run: its state is loaded but must not be put back, neither at
    the first epoch nor at a later one (when the iteration count is past 0)."""
    hook = RandomStateHook()
    hook.after_load_checkpoint(None, {'random_states': get_random_states()})
    loop = loop_at(0, hook)
    assert loop._resumed_random_states() is None
    loop._iter = 4  # epoch 2
    assert loop._resumed_random_states() is None


class SavingRunner:
    """Runs a loop's epochs with no model, and records at each hook where a checkpoint would
    be saved the checkpoint's epoch and iteration as mmengine's ``save_checkpoint`` writes them
    (by iteration after each batch, by epoch at the epoch's end) with the loop's position."""

    def __init__(self, loop):
        self.loop, self.saved = loop, []
        self.hooks = [RandomStateHook(), TrainPositionHook()]
        self.model = SimpleNamespace(train=lambda: None, train_step=lambda *a, **k: {})
        self.optim_wrapper = None

    def call_hook(self, name, **kwargs):
        loop = self.loop
        if name == 'after_train_iter':
            self.saved.append(('by iteration', loop.epoch, loop.iter + 1, loop.position()))
        elif name == 'after_train_epoch':
            self.saved.append(('by epoch', loop.epoch + 1, loop.iter, loop.position()))


def test_every_checkpoint_says_how_far_its_epoch_was_trained():
    """By iteration after batch k of an epoch: k trained; by epoch, and ``save_best``'s after
    the validation that follows an epoch (the loop's epoch counted, its iteration): none of the
    next epoch. Without the position, the run's ``max_iters / max_epochs`` batches per epoch,
    else this run's."""
    loop = ResumableEpochBasedTrainLoop.__new__(ResumableEpochBasedTrainLoop)
    loop._runner = runner = SavingRunner(loop)
    loop.dataloader = ['a', 'b', 'c']
    loop._epoch = loop._iter = loop._start_batch = loop._epoch_start_iter = 0
    loop._random_states_taken = False
    for _ in range(2):
        loop.run_epoch()
    runner.saved.append(('save_best', loop.epoch, loop.iter, loop.position()))
    done = [checkpoint_position(dict(epoch=epoch, iter=iteration, position=position,
                                     max_epochs=None, max_iters=None), 99)
            for _, epoch, iteration, position in runner.saved]
    assert [name for name, *_ in runner.saved] == ['by iteration'] * 3 + ['by epoch'] + [
        'by iteration'] * 3 + ['by epoch', 'save_best']
    assert done == [(3, 1), (3, 2), (3, 3), (3, 0), (3, 1), (3, 2), (3, 3), (3, 0), (3, 0)]
    unknown = dict(epoch=1, iter=6, position=None, max_epochs=2, max_iters=8)
    assert checkpoint_position(unknown, 99) == (4, 2)
    assert checkpoint_position(dict(unknown, max_iters=None), 5) == (5, 1)
