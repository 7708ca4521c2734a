"""All-or-nothing writes for mmengine's local files, so that a run killed while it saves a
checkpoint (SIGKILL, OOM killer, preemption) never leaves a truncated ``.pth`` or
``last_checkpoint`` behind: the data goes to a temporary file beside the target, is flushed to
disk, and is renamed over the target in one step (``os.replace``). The file ends with the
permissions ``open()`` would have given it (a replaced file's own, else 0666 less the umask),
not the temporary file's private 0600.

A process killed inside a save cannot remove its temporary file. The file's name records the
host and process that wrote it (``.epoch_3.pth.HOST-PID.XXXXXXXX.tmp``), and each successful
write removes the temporary files in its folder whose writer on this host no longer runs (and
that are older than ten minutes), so a killed save costs its disk only until the run next saves
there."""
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import List, Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio.io import backend_instances
from mmengine.logging import print_log


def _umask() -> int:
    """The process umask, read without changing it where Linux says it (``os.umask`` can only
    be read by setting it, which other threads creating files would see)."""
    try:
        with open('/proc/self/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_of_written_file(filepath: Path) -> int:
    """The permissions ``open(filepath, 'wb')`` leaves: a file's own, else 0666 less the
    umask."""
    try:
        return filepath.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _host() -> str:
    """This machine's name as it goes into temporary file names (no dots or separators)."""
    return re.sub(r'[^A-Za-z0-9_]', '_', socket.gethostname()) or 'host'


# .NAME.HOST-PID.XXXXXXXX.tmp (tempfile's 8 random characters)
_TEMPORARY = re.compile(r'^\..+\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp$')


def _running(pid: int) -> bool:
    """False only where no process ``pid`` exists (another user's process raises
    PermissionError, a number beyond any pid OverflowError: both kept as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass
    return True


# a temporary file untouched for this long, whose writer is gone, is a killed write's
# (the age also guards against a writer in another pid namespace under the same host name)
STALE_AFTER_S = 600


def remove_stale_temporaries(folder: Union[str, Path]) -> List[Path]:
    """Remove the temporary files :func:`atomic_write` left in ``folder`` when its process was
    killed mid-write: those written on this host by a process that no longer runs, untouched
    for :data:`STALE_AFTER_S` seconds. Files of other hosts (a shared filesystem) and of
    running processes are left. Returns what was removed."""
    removed, host, now = [], _host(), time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMPORARY.match(name)
        if match and match['host'] == host and not _running(int(match['pid'])):
            path = Path(folder, name)
            try:
                stat = path.stat()
                if now - stat.st_mtime < STALE_AFTER_S:
                    continue
                path.unlink()
            except FileNotFoundError:  # another writer removed it first
                continue
            removed.append(path)
            print_log(f'removed {path} ({stat.st_size / 2**20:.1f} MiB), left by process '
                      f'{match["pid"]} when it was killed while writing', logger='current')
    return removed


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    filepath = Path(filepath)
    filepath.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{filepath.name}.{_host()}-{os.getpid()}.',
                               suffix='.tmp', dir=filepath.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(f.fileno(), _mode_of_written_file(filepath))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    remove_stale_temporaries(filepath.parent)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` with atomic :meth:`put` and :meth:`put_text`."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)


def register_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths (``import ghostdet``
    calls it); local backends created before are dropped from mmengine's cache."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    for key in [k for k, v in backend_instances.items() if type(v) is LocalBackend]:
        del backend_instances[key]
