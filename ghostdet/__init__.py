"""ghostdet: GhostNet backbones and Ghost-module necks for MMDetection 3.x."""
from . import bootstrap
from .version import __version__

bootstrap.run()  # version guard, checkpoint allowlist, atomic writes, registration, mmdet fixes

__all__ = ['__version__']
