"""The resume decisions of ResumableEpochBasedTrainLoop; the loop's training runs are in
tests/test_tools/test_train_test_demo.py (SIGKILL, end-of-epoch and by-epoch resumes)."""
from types import SimpleNamespace

from ghostdet.engine import RandomStateHook, ResumableEpochBasedTrainLoop, get_random_states


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
