from .ghost_fpn import GhostFPN
from .ghost_pan import GhostPAN

__all__ = ['GhostFPN', 'GhostPAN']
