"""All-or-nothing writes for mmengine's local files, so that a run killed while it saves a
checkpoint (SIGKILL, OOM killer, preemption) never leaves a truncated ``.pth`` or
``last_checkpoint`` behind: the data goes to a temporary file beside the target, is flushed to
disk, and is renamed over the target in one step (``os.replace``). The file ends with the
permissions ``open()`` would have given it (a replaced file's own, else 0666 less the umask),
not the temporary file's private 0600."""
import os
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio.io import backend_instances


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


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    filepath = Path(filepath)
    filepath.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{filepath.name}.', suffix='.tmp', dir=filepath.parent)
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
