from .ghostnet import GhostNet
from .mobilenet_v3 import MobileNetV3

__all__ = ['GhostNet', 'MobileNetV3']
