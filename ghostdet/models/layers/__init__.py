from .ghost_blocks import GhostBlocks
from .ghost_module import (ConvBnAct, DFCAttention, GhostBottleneck, GhostModule, GhostModuleV2,
                           SqueezeExcite)
from .ghost_module_v3 import GhostBottleneckV3, GhostModuleV3
from .reparam import Reparameterizable

__all__ = [
    'GhostModule', 'GhostModuleV2', 'GhostModuleV3', 'GhostBottleneck', 'GhostBottleneckV3',
    'GhostBlocks', 'SqueezeExcite', 'ConvBnAct', 'DFCAttention', 'Reparameterizable'
]
