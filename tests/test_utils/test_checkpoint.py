"""Checkpoints written by a real mmengine Runner load under weights_only=True after
``import ghostdet``; checkpoints that would run code are refused and the code does not run.
The same holds for prediction files (``tools/test.py --out``) read by ``load_predictions``."""
import io
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint
from torch.utils.data import Dataset

import ghostdet  # noqa: F401  (registers the safe globals)
from ghostdet.utils.checkpoint import UnsafeCheckpointError, load_predictions, safe_globals


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - labels)**2).mean())
        return out


class ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([i / 8, 1.0]), labels=torch.tensor(float(i % 2)))


def make_runner(work_dir, max_epochs, resume=False):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        resume=resume,
        randomness=dict(seed=0))


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('runner')
    make_runner(work_dir, max_epochs=2).train()
    return work_dir, work_dir / 'epoch_2.pth'


def allowlisted_names():
    names = set()
    for entry in safe_globals():
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f'{entry.__module__}.{entry.__qualname__}')
    return names


def test_real_runner_checkpoint_needs_only_the_allowlisted_globals(runner_checkpoint):
    _, path = runner_checkpoint
    registered = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        # what mmengine 0.10.7 pickles beyond torch's own allowlist
        needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    finally:
        torch.serialization.add_safe_globals(registered)
    assert {'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr'} <= needed
    assert needed <= allowlisted_names()
    ckpt = torch.load(path, weights_only=True)
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    assert ckpt['meta']['epoch'] == 2


def test_real_runner_checkpoint_loads_for_test(runner_checkpoint):
    _, path = runner_checkpoint
    model = ToyModel()
    ckpt = load_checkpoint(model, str(path), map_location='cpu')
    saved = ckpt['state_dict']['linear.weight']
    assert torch.equal(model.linear.weight.data, saved)


def test_real_runner_checkpoint_resumes(runner_checkpoint, tmp_path):
    work_dir, _ = runner_checkpoint
    runner = make_runner(work_dir, max_epochs=3, resume=True)
    runner.train()
    assert runner.epoch == 3
    assert (work_dir / 'epoch_3.pth').exists()
    # the resumed run went on from epoch 2's state: its loss history came along
    history = runner.message_hub.get_scalar('train/loss')
    assert len(history.data[0]) == 3 * 2  # 3 epochs x 2 iterations


class RunsShell:
    """A pickle whose loading would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'payload': RunsShell(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path))
    assert str(path) in str(err.value)
    assert 'system' in str(err.value)  # names the refused global
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(ToyModel(), str(path))
    assert not marker.exists()


class ReachesPastHistoryBuffer:

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': ReachesPastHistoryBuffer()}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused getattr.*'__init__'"):
        _load_checkpoint(str(path))


def test_weights_only_stays_on_even_if_env_asks_otherwise(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'payload': RunsShell(marker)}, path)
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(path))
    assert not marker.exists()


def test_predictions_pickle_loads_its_tensors(tmp_path):
    # what mmdet's DumpDetResults writes (mmengine.dump, plain pickle) for `tools/test.py --out`
    from mmengine.fileio import dump
    predictions = [dict(img_id=3, img_path='a.jpg', scale_factor=(1.0, 1.0),
                        pred_instances=dict(bboxes=torch.rand(5, 4), scores=torch.rand(5),
                                            labels=torch.arange(5)))]
    path = tmp_path / 'results.pkl'
    dump(predictions, str(path))
    loaded = load_predictions(str(path))
    assert loaded[0]['img_id'] == 3 and loaded[0]['scale_factor'] == (1.0, 1.0)
    for key, value in predictions[0]['pred_instances'].items():
        assert torch.equal(loaded[0]['pred_instances'][key], value)


class StorageThatRunsShell:
    """A 'storage' whose bytes are a torch.save of code: torch's own ``_load_from_bytes``
    would load them with weights_only=False."""

    def __init__(self, marker):
        self.buffer = io.BytesIO()
        torch.save(RunsShell(marker), self.buffer)

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.buffer.getvalue(), ))


@pytest.mark.parametrize('payload', [RunsShell, StorageThatRunsShell])
def test_predictions_pickle_that_runs_code_is_refused(tmp_path, payload):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'results.pkl'
    with open(path, 'wb') as f:
        pickle.dump([dict(img_id=0, pred_instances=dict(scores=payload(marker)))], f)
    with pytest.raises(UnsafeCheckpointError, match='system') as err:
        load_predictions(str(path))
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_missing_predictions_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pkl'):
        load_predictions(str(tmp_path / 'nope.pkl'))


def test_a_checkpoint_or_other_file_given_for_predictions_is_named_as_such(tmp_path):
    """Once "it asks to unpickle something that is not a tensor": true, but no help."""
    checkpoint = tmp_path / 'epoch_12.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(2))), checkpoint)
    with pytest.raises(ValueError, match=r'epoch_12.pth is a torch file \(a zip archive, e.g. a '
                       r'checkpoint\), not the .pkl that tools/test.py CONFIG CHECKPOINT --out '):
        load_predictions(str(checkpoint))
    onnx = tmp_path / 'model.onnx'
    onnx.write_bytes(b'\x08\x07\x12\x07pytorch')  # protobuf, not a pickle
    with pytest.raises(ValueError, match=r'model.onnx is not a pickle file, not the .pkl'):
        load_predictions(str(onnx))
    (tmp_path / 'results.pkl').write_bytes(b'')
    with pytest.raises(ValueError, match=r'results.pkl is empty \(0 bytes\), not the .pkl'):
        load_predictions(str(tmp_path / 'results.pkl'))
