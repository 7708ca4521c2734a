"""ghostdet: GhostNet backbones and Ghost-module necks for MMDetection 3.x."""
from .utils.version_check import check_versions
from .version import __version__

check_versions()

from .utils.checkpoint import register_safe_globals  # noqa: E402

register_safe_globals()

from .utils.atomic_io import register_atomic_local_backend  # noqa: E402

register_atomic_local_backend()

from . import models  # noqa: E402,F401  (registers into mmdet's MODELS)
from . import datasets  # noqa: E402,F401  (registers checked transform, dataset, hook)
from . import engine  # noqa: E402,F401  (registers hooks and loops)
from . import deployment  # noqa: E402,F401  (registers the onnxruntime detector)

__all__ = ['__version__']
