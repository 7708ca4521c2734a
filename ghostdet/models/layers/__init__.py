from .ghost_module import GhostBottleneck, GhostModule, SqueezeExcite

__all__ = ['GhostModule', 'GhostBottleneck', 'SqueezeExcite']
