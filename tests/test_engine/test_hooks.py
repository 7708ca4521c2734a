from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from ghostdet.engine import CheckpointKeysHook, FiniteLossHook
from ghostdet.models.utils import CheckpointMismatchError


def fake_runner(tmp_path, load_from=None, resume=False, model=None):
    return SimpleNamespace(iter=41, epoch=2, work_dir=str(tmp_path), _load_from=load_from,
                           _resume=resume, model=model)


def test_finite_loss_passes_finite_values(tmp_path):
    FiniteLossHook().after_train_iter(fake_runner(tmp_path), 3, None,
                                      dict(loss=torch.tensor(1.5), loss_cls=torch.tensor(1.0)))


def test_finite_loss_names_iteration_terms_and_last_checkpoint(tmp_path):
    (tmp_path / 'iter_40.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_40.pth'))
    outputs = dict(loss=torch.tensor(float('inf')), loss_cls=torch.tensor(float('inf')),
                   loss_bbox=torch.tensor(0.5))
    with pytest.raises(FloatingPointError) as err:
        FiniteLossHook().after_train_iter(fake_runner(tmp_path), 5, None, outputs)
    message = str(err.value)
    assert 'loss is inf at iteration 42 (epoch 3, batch 6)' in message
    assert "'loss_cls': inf" in message and 'loss_bbox' not in message
    assert f'last good checkpoint is {tmp_path / "iter_40.pth"}' in message


def test_finite_loss_runs_before_the_checkpoint_hook():
    from mmengine.hooks import CheckpointHook
    from mmengine.runner.priority import get_priority
    assert get_priority(FiniteLossHook.priority) < get_priority(CheckpointHook.priority)


class Net(nn.Module):

    def __init__(self, width=4):
        super().__init__()
        self.backbone = nn.Linear(2, width)
        self.head = nn.Linear(width, 3)


def test_checkpoint_keys_hook_lists_mismatches_and_honours_ignore_prefixes(tmp_path):
    other = tmp_path / 'other.pth'
    state = Net(width=4).state_dict()
    state['head.weight'] = torch.zeros(5, 4)  # another number of classes
    torch.save({'state_dict': state}, other)
    runner = fake_runner(tmp_path, load_from=str(other), model=Net(width=4))
    with pytest.raises(CheckpointMismatchError, match=r'shape mismatch \(1\): head.weight'):
        CheckpointKeysHook().before_run(runner)
    CheckpointKeysHook(ignore_prefixes=['head.']).before_run(runner)  # fine-tuning: allowed
    with pytest.raises(CheckpointMismatchError, match='backbone.weight'):
        CheckpointKeysHook().before_run(fake_runner(tmp_path, load_from=str(other), resume=True,
                                                    model=Net(width=8)))


def test_checkpoint_keys_hook_checks_what_auto_resume_will_load(tmp_path):
    torch.save({'state_dict': Net(width=4).state_dict()}, tmp_path / 'iter_2.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    CheckpointKeysHook().before_run(fake_runner(tmp_path, resume=True, model=Net(width=4)))
    with pytest.raises(CheckpointMismatchError, match='iter_2.pth'):
        CheckpointKeysHook().before_run(fake_runner(tmp_path, resume=True, model=Net(width=8)))
    CheckpointKeysHook().before_run(fake_runner(tmp_path / 'empty', resume=True,
                                                model=Net()))  # nothing to resume: no check
