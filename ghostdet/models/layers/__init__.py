from .ghost_blocks import GhostBlocks
from .ghost_module import GhostBottleneck, GhostModule, SqueezeExcite

__all__ = ['GhostModule', 'GhostBottleneck', 'GhostBlocks', 'SqueezeExcite']
