"""What the command-line tools share: a mistake in a tool's inputs is one line, not a
traceback."""
import argparse
import math
import pickle
import re
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

# what ghostdet.apis raises for a missing config, checkpoint or image, a malformed option, or an
# option the machine or config cannot honour (--amp without CUDA, --show-dir without the hook);
# and what ghostdet.utils.checkpoint raises for a file it refuses to unpickle
INPUT_ERRORS = (FileNotFoundError, KeyError, RuntimeError, ValueError, pickle.UnpicklingError)

USAGE_EXIT = 2  # argparse's code for a bad command line


@contextmanager
def input_errors(code: int = USAGE_EXIT) -> Iterator[None]:
    """Wrap the part of a tool that reads its inputs (config, checkpoint, images, options): an
    :data:`INPUT_ERRORS` raised inside is printed to stderr as ``error: <message>`` and the
    tool exits with ``code``. Keep the run itself outside, so that its failures keep their
    traceback."""
    try:
        yield
    except INPUT_ERRORS as err:
        # KeyError's str() quotes its message
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f'error: {message}', file=sys.stderr)
        raise SystemExit(code) from err


def _number(kind: Callable[[str], float], accept: Callable[[float], bool],
            wanted: str) -> Callable[[str], float]:
    """An argparse ``type=`` that reads ``kind`` and refuses values ``accept`` rejects:
    ``error: argument --runs: must be a positive integer, but got 0`` instead of a traceback
    (or a long run that fails) later."""
    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'must be {wanted}, but got {text!r}') from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f'must be {wanted}, but got {text}')
        return value
    return convert


positive_int = _number(int, lambda v: v >= 1, 'a positive integer')
non_negative_int = _number(int, lambda v: v >= 0, 'an integer >= 0')
positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, 'a positive number')
non_negative_float = _number(float, lambda v: math.isfinite(v) and v >= 0, 'a number >= 0')
fraction = _number(float, lambda v: 0 <= v <= 1, 'a number from 0 to 1')
positive_fraction = _number(float, lambda v: 0 < v <= 1, 'a number above 0, at most 1')


def torch_device(text: str) -> str:
    """An argparse ``type=`` for ``--device``: ``cpu``, ``cuda`` or ``cuda:N``, refused (naming
    what this machine has) when torch cannot use it, instead of torch's assertion from deep in
    the first model move."""
    match = re.fullmatch(r'cpu|cuda(?::(\d+))?', text)
    if not match:
        raise argparse.ArgumentTypeError(f'must be cpu, cuda or cuda:N, but got {text!r}')
    if text != 'cpu':
        import torch
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f'{text} needs a CUDA device, but torch {torch.__version__} finds none here')
        count = torch.cuda.device_count()
        if int(match.group(1) or 0) >= count:
            raise argparse.ArgumentTypeError(
                f'{text} is not a device here: torch finds {count} (cuda:0 to cuda:{count - 1})')
    return text


def add_prediction_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of the tools that read ``tools/test.py --out`` predictions with their
    config and match them to the test set's boxes (``confusion_matrix.py``,
    ``worst_images.py``): the config, the predictions, ``--iou-thr``, ``--score-thr`` and
    ``--cfg-options``."""
    from mmengine.config import DictAction
    parser.add_argument('config', help='the config the predictions were made with')
    parser.add_argument('predictions', help='the .pkl of tools/test.py --out')
    parser.add_argument('--iou-thr', type=positive_fraction, default=0.5,
                        help='IoU at which a detection matches a box (default 0.5)')
    parser.add_argument('--score-thr', type=fraction, default=0.3,
                        help='detections below this score are left out (default 0.3)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. the test set\'s data_root')


# the inference-option flags of tools/test.py, tools/demo.py and tools/analysis/benchmark.py:
# flag -> ghostdet.models.InferenceOptions field
INFERENCE_FLAGS = {'--fuse-conv-bn': 'fuse_bn', '--channels-last': 'channels_last',
                   '--fp16': 'fp16', '--cuda-graph': 'cuda_graph'}
INFERENCE_HELP = {
    '--fuse-conv-bn': 'fold each BatchNorm into the convolution before it, as deployment does',
    '--channels-last': 'NHWC memory layout for the weights and the input',
    '--fp16': 'fp16 weights in backbone, neck and heads (CUDA only); the input is cast on its '
              'way in and the head outputs back to fp32 for decoding and NMS',
    '--cuda-graph': 'replay backbone, neck and dense head as a CUDA graph recorded per input '
                    'shape (CUDA only; pays where shapes repeat)',
}


def add_inference_arguments(parser: argparse.ArgumentParser, fuse_conv_bn: bool = True,
                            suffix: str = '') -> None:
    """The inference-option flags (:data:`INFERENCE_FLAGS`), each checked against the fp32
    eager outputs before use (``ghostdet.models.accelerate``). ``fuse_conv_bn``: add
    ``--fuse-conv-bn`` too (leave it out where the tool has its own). ``suffix``: appended to
    each help text."""
    for flag, help_text in INFERENCE_HELP.items():
        if flag == '--fuse-conv-bn' and not fuse_conv_bn:
            continue
        parser.add_argument(flag, action='store_true', help=help_text + suffix)


def inference_flags(args: argparse.Namespace) -> dict:
    """The inference options set on the command line, as ``InferenceOptions`` keywords."""
    return {field: bool(getattr(args, flag[2:].replace('-', '_'), False))
            for flag, field in INFERENCE_FLAGS.items()}
