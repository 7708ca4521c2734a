"""Secure loading of mmengine checkpoints under torch >= 2.6 (``weights_only=True``).

A checkpoint is untrusted input: unpickling it may run arbitrary code. torch >= 2.6 loads with
``weights_only=True``, which refuses every global that is not allowlisted, and mmengine 0.10.7's
own checkpoints then fail to load (``HistoryBuffer`` and the numpy objects its ``MessageHub``
keeps are not allowlisted). This module allowlists exactly what a Runner checkpoint holds, found
by saving real ones (see ``tests/test_utils/test_checkpoint.py``), and makes mmengine's local
loader always pass ``weights_only=True``, with an error that names the file and the refused
global. It never falls back to ``weights_only=False``.

:func:`load_predictions` reads the ``.pkl`` of ``tools/test.py --out`` (mmdet's
``DumpDetResults``) under the same rule: only tensors, storages and containers are unpickled,
and a tensor's storage is read with ``weights_only=True`` (``mmengine.load`` would unpickle
anything, and torch's own ``_load_from_bytes`` loads storages with ``weights_only=False``).

Pickle protocol 2, which ``torch.save`` uses, writes a reference to a method such as
``HistoryBuffer.mean`` as ``builtins.getattr(HistoryBuffer, 'mean')``. Allowlisting ``getattr``
itself would let a checkpoint reach any attribute of any allowlisted object, so it is aliased to
:func:`_history_buffer_getattr`, which resolves only HistoryBuffer's statistics methods.
"""
import codecs
import collections
import io
import os
import pickle
from typing import Any, Callable, List, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

# HistoryBuffer's registered statistics (mmengine 0.10.7: min, max, current, mean)
_HISTORY_BUFFER_METHODS = frozenset(('min', 'max', 'current', 'mean'))


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint asked to unpickle something outside the allowlist."""


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` while unpickling: only ``HistoryBuffer``'s statistics
    methods resolve."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'refused getattr({obj!r}, {name!r}): only HistoryBuffer statistics methods '
        f'({", ".join(sorted(_HISTORY_BUFFER_METHODS))}) may be looked up from a checkpoint')


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The numpy objects mmengine's MessageHub pickles (arrays, scalars, dtypes), under the
    names both numpy 1.x (``numpy.core``) and numpy 2.x (``numpy._core``) write, so checkpoints
    saved under either load."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    out: List[Union[Callable, Tuple[Callable, str]]] = [np.ndarray, np.dtype]
    for name in ('_reconstruct', 'scalar'):
        fn = getattr(multiarray, name)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            out.append((fn, f'{module}.{name}'))
    # np.dtype('float64') unpickles to an instance of numpy.dtypes.Float64DType (numpy >= 1.25),
    # which torch checks when the object is built: allow the numeric and bool ones only
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in ('Float16DType', 'Float32DType', 'Float64DType', 'Int8DType', 'Int16DType',
                     'Int32DType', 'Int64DType', 'UInt8DType', 'UInt16DType', 'UInt32DType',
                     'UInt64DType', 'BoolDType', 'LongDType', 'ULongDType', 'LongLongDType',
                     'ULongLongDType'):
            if hasattr(dtypes, name):
                out.append(getattr(dtypes, name))
    return out


def safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """Everything a checkpoint written by mmengine 0.10.7's Runner needs beyond torch's own
    allowlist."""
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


def load_local_checkpoint(filename: str, map_location: Any = None) -> Any:
    """mmengine's local-file loader, with ``weights_only=True`` stated and a clear refusal."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'refused to load {filename}: it asks to unpickle something that is not on '
            "ghostdet's allowlist of mmengine checkpoint contents, so it was not run. "
            'Checkpoints are untrusted input; ghostdet never loads with weights_only=False. '
            f'Reason: {_reason(err)}') from err


def _storage_from_bytes(data: bytes) -> Any:
    """Stand-in for ``torch.storage._load_from_bytes``, which loads with
    ``weights_only=False``."""
    return torch.load(io.BytesIO(data), weights_only=True)


def _prediction_globals() -> dict:
    """``(module, name) -> object`` that a pickled list of mmdet predictions may name: the
    tensor rebuild, its storage (via :func:`_storage_from_bytes`), ``OrderedDict`` and the
    bytes codec of pickle protocol 2, plus the numpy objects of :func:`_numpy_globals`."""
    allowed = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('_codecs', 'encode'): codecs.encode,
        ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
        ('torch.storage', '_load_from_bytes'): _storage_from_bytes,
    }
    for entry in _numpy_globals():
        obj, qualname = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__name__}')
        allowed[tuple(qualname.rsplit('.', 1))] = obj
    return allowed


class _PredictionsUnpickler(pickle.Unpickler):

    allowed = _prediction_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(f'Unsupported global: GLOBAL {module}.{name}') from None


def load_predictions(filename: str) -> Any:
    """Read a predictions ``.pkl`` written by ``tools/test.py --out`` without running code from
    it: anything beyond tensors, numpy arrays and containers is refused with an error that
    names the file and the global."""
    filename = os.path.expanduser(str(filename))
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    wanted = ('the .pkl that tools/test.py CONFIG CHECKPOINT --out results.pkl writes: pass '
              'that')
    with open(filename, 'rb') as f:
        head = f.read(4)
        f.seek(0)
        if not head:
            raise ValueError(f'{filename} is empty (0 bytes), not {wanted}')
        if head == b'PK\x03\x04':  # torch.save's zip format: a checkpoint, not predictions
            raise ValueError(f'{filename} is a torch file (a zip archive, e.g. a checkpoint), '
                             f'not {wanted}')
        try:
            return _PredictionsUnpickler(f).load()
        except pickle.UnpicklingError as err:
            if head[:1] != b'\x80':  # every pickle of protocol >= 2 starts so; mmengine's too
                raise ValueError(f'{filename} is not a pickle file, not {wanted}') from None
            raise UnsafeCheckpointError(
                f'refused to load {filename}: it asks to unpickle something that is not a '
                'tensor, numpy array or container, so it was not run. Prediction files are '
                f'untrusted input. Reason: {_reason(err)}') from err


def check_predictions(predictions: Any, name: str = 'the predictions') -> Sequence[dict]:
    """``predictions`` if it is what ``tools/test.py --out`` writes (a list of dicts with
    ``img_id`` and ``pred_instances``); else a ValueError that names ``name``."""
    if not isinstance(predictions, (list, tuple)) or not all(
            isinstance(p, dict) and 'pred_instances' in p and 'img_id' in p
            for p in predictions):
        raise ValueError(f'not what tools/test.py --out writes (a list of dicts with img_id and '
                         f'pred_instances): {name}')
    return predictions


def prediction_arrays(prediction: dict,
                      name: str = 'the predictions') -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image of a ``tools/test.py --out`` list as numpy: boxes ``(N, 4)`` and scores
    ``(N,)`` float64, labels ``(N,)`` int64 (tensors or arrays in the file). A missing field or
    mismatched lengths are a ValueError that names ``name`` and the image."""
    instances, img_id = prediction['pred_instances'], prediction.get('img_id')
    try:
        bboxes, scores, labels = (np.asarray(instances[k], dtype=np.float64)
                                  for k in ('bboxes', 'scores', 'labels'))
    except KeyError as err:
        raise ValueError(f'{name}: pred_instances of image {img_id!r} have no '
                         f'{err.args[0]!r}') from None
    if bboxes.size != 4 * len(scores) or labels.shape != scores.shape:
        raise ValueError(f'{name}: image {img_id!r} has {bboxes.shape} boxes, {scores.shape} '
                         f'scores and {labels.shape} labels')
    return bboxes.reshape(-1, 4), scores, labels.astype(np.int64)


def _reason(err: Exception) -> str:
    """The line of torch's weights-only error that names what was refused."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for marker in ('GLOBAL', 'Unsupported global', 'but got', 'refused getattr'):
        for line in lines:
            if marker in line:
                return line
    return lines[0] if lines else type(err).__name__


_registered = False


def register_safe_globals() -> None:
    """Allowlist :func:`safe_globals` for ``torch.load`` and route mmengine's local checkpoint
    loading through :func:`load_local_checkpoint`. Idempotent; ``import ghostdet`` calls it."""
    global _registered
    if _registered:
        return
    torch.serialization.add_safe_globals(safe_globals())
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_local_checkpoint)
    _registered = True
