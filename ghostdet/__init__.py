"""ghostdet: GhostNet backbones and Ghost-module necks for MMDetection 3.x."""
import warnings

# mmengine's Config.fromfile imports pkg_resources for every config with an `mmdet::` base, and
# setuptools warns (twice, four lines) that the module goes away in setuptools 81: the reason
# requirements/build.txt pins setuptools < 81. Said once there, not on every tool run.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated as an API',
                        category=UserWarning)

from .utils.version_check import check_versions  # noqa: E402
from .version import __version__  # noqa: E402

check_versions()

from .utils.checkpoint import register_safe_globals  # noqa: E402

register_safe_globals()

from .utils.atomic_io import register_atomic_local_backend  # noqa: E402

register_atomic_local_backend()

from . import models  # noqa: E402,F401  (registers into mmdet's MODELS)
from .models.compat import fix_ssd_head_predict  # noqa: E402

fix_ssd_head_predict()

from . import datasets  # noqa: E402,F401  (registers checked transform, dataset, hook)
from . import engine  # noqa: E402,F401  (registers hooks and loops)
from . import deployment  # noqa: E402,F401  (registers the onnxruntime detector)

__all__ = ['__version__']
