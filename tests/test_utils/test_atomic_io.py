import pytest
import torch
from mmengine.fileio import get_file_backend

import ghostdet  # noqa: F401  (registers the atomic local backend)
from ghostdet.utils.atomic_io import AtomicLocalBackend, atomic_write


def test_mmengine_local_backend_is_atomic(tmp_path):
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth')), AtomicLocalBackend)
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth'), enable_singleton=True),
                      AtomicLocalBackend)


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / 'epoch_1.pth'
    atomic_write(b'good checkpoint', target)
    import os

    def crash(*args):
        raise KeyboardInterrupt  # like a kill arriving before the rename

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(b'half', target)
    assert target.read_bytes() == b'good checkpoint'
    assert [p.name for p in tmp_path.iterdir()] == ['epoch_1.pth']


def test_mmengine_save_checkpoint_goes_through_it(tmp_path):
    from mmengine.runner.checkpoint import save_checkpoint
    path = tmp_path / 'sub' / 'iter_1.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(2)}}, str(path))
    assert torch.equal(torch.load(path, weights_only=True)['state_dict']['w'], torch.ones(2))
    get_file_backend(str(path)).put_text('iter_1.pth', str(tmp_path / 'last_checkpoint'))
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_1.pth'
