"""What the command-line tools share: a mistake in a tool's inputs is one line, not a
traceback."""
import pickle
import sys
from contextlib import contextmanager
from typing import Iterator

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
