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


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    import os
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def test_written_files_get_the_permissions_open_would_give(tmp_path, umask):
    """A temporary file is created private (0600); renamed as it is, every checkpoint and
    log a run saved would be unreadable to the rest of a team sharing the machine, unlike
    what mmengine writes without ghostdet. New files get 0666 less the umask, as open()
    gives them; a file written over keeps its own mode."""
    from mmengine.runner.checkpoint import save_checkpoint

    def mode(path):
        return path.stat().st_mode & 0o777

    umask(0o022)
    save_checkpoint({'state_dict': {'w': torch.ones(2)}}, str(tmp_path / 'iter_1.pth'))
    get_file_backend(str(tmp_path)).put_text('iter_1.pth', str(tmp_path / 'last_checkpoint'))
    with open(tmp_path / 'plain', 'wb'):  # what open() gives under this umask
        pass
    assert mode(tmp_path / 'iter_1.pth') == mode(tmp_path / 'last_checkpoint') == 0o644
    assert mode(tmp_path / 'plain') == 0o644
    umask(0o077)
    atomic_write(b'private', tmp_path / 'secret.json')
    assert mode(tmp_path / 'secret.json') == 0o600
    (tmp_path / 'shared.json').write_bytes(b'old')
    (tmp_path / 'shared.json').chmod(0o640)
    atomic_write(b'new', tmp_path / 'shared.json')  # replaced: keeps its mode
    assert mode(tmp_path / 'shared.json') == 0o640
    assert (tmp_path / 'shared.json').read_bytes() == b'new'


def test_umask_is_read_also_without_proc(umask, monkeypatch):
    from ghostdet.utils import atomic_io

    umask(0o027)
    assert atomic_io._umask() == 0o027

    def no_proc(*args, **kwargs):
        raise OSError('no /proc here')

    monkeypatch.setattr(atomic_io, 'open', no_proc, raising=False)
    assert atomic_io._umask() == 0o027
    import os
    assert os.umask(0o027) == 0o027  # and left as it was


def test_a_save_killed_midway_leaves_a_temporary_that_a_later_write_removes(tmp_path):
    """SIGKILL inside a checkpoint save (here: at the fsync) gives the process no chance to
    delete its temporary file, a checkpoint's size of disk. The next write into the folder
    removes it once it is old enough, and leaves the temporaries of running writers and of
    other hosts alone."""
    import os
    import subprocess
    import sys

    from ghostdet.utils import atomic_io

    script = (
        'import os, signal, sys, torch\n'
        'import ghostdet\n'
        'from mmengine.runner.checkpoint import save_checkpoint\n'
        'os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n'
        'save_checkpoint({"state_dict": {"w": torch.ones(1000)}}, sys.argv[1])\n')
    proc = subprocess.run([sys.executable, '-c', script, str(tmp_path / 'epoch_3.pth')])
    assert proc.returncode == -9
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].name.startswith('.epoch_3.pth.')
    killed = left[0]
    assert killed.stat().st_size > 4000
    host = atomic_io._host()
    running = tmp_path / f'.epoch_4.pth.{host}-{os.getpid()}.abcdefgh.tmp'
    dead = atomic_io._TEMPORARY.match(killed.name)['pid']  # the killed process's
    elsewhere = tmp_path / f'.epoch_4.pth.other_{host}-{dead}.abcdefgh.tmp'
    for path in (running, elsewhere):
        path.write_bytes(b'being written')

    atomic_write(b'{}', tmp_path / 'log.json')  # too recent to be sure: kept
    assert killed.exists()
    an_hour_ago = killed.stat().st_mtime - 3600
    for path in (killed, running, elsewhere):
        os.utime(path, (an_hour_ago, an_hour_ago))
    atomic_write(b'{}', tmp_path / 'log.json')
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ['log.json', running.name, elsewhere.name])
    assert atomic_io.remove_stale_temporaries(tmp_path / 'no such folder') == []


def test_a_writer_of_another_user_counts_as_running(monkeypatch):
    """``os.kill(pid, 0)`` on another user's process raises PermissionError: it runs, and its
    temporary file is left alone."""
    import os

    from ghostdet.utils import atomic_io

    def denied(pid, sig):
        raise PermissionError(1, 'Operation not permitted')

    assert not atomic_io._running(2**22 + 12345)  # above Linux's pid_max: no such process
    monkeypatch.setattr(os, 'kill', denied)
    assert atomic_io._running(2**22 + 12345)
