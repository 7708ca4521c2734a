from .ghostnet import GhostNet
from .ghostnet_v2 import GhostNetV2
from .ghostnet_v3 import GhostNetV3
from .mobilenet_v3 import MobileNetV3

__all__ = ['GhostNet', 'GhostNetV2', 'GhostNetV3', 'MobileNetV3']
