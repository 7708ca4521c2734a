"""The light backbones compared in the GhostNet paper, their ImageNet classifiers and the
paper's numbers.

Two network definitions are counted at 224x224:

* **classifier** -- the whole ImageNet network, as the paper's ImageNet tables count it: GhostNet
  with ``with_classifier=True`` (pool -> 1x1 conv to 1280 -> FC); MobileNetV3 with torchvision's
  head (pool -> Linear(960, 1280) -> Linear(1280, 1000) for Large, Linear(576, 1024) ->
  Linear(1024, 1000) for Small); MobileNetV2 with pool -> Linear(1280, 1000) (its 1280-channel
  1x1 conv is mmdet's ``conv2``, already part of the backbone).
* **backbone** -- the feature extractor a detector uses: every layer up to and including the last
  1x1 conv (GhostNet ``blocks.9``, MobileNetV3 ``features.16``/``.12``, MobileNetV2 ``conv2``),
  without pooling and classifier head.

GhostNetV2 and GhostNetV3 count as GhostNet does; GhostNetV3 in its deployed (folded) form.
"""
from typing import Dict, NamedTuple

import torch.nn as nn
from torch import Tensor

from ..models.structure import backbone_out_channels  # noqa: F401  (re-exported)
from ..utils.registry import build_model


class PaperNumber(NamedTuple):
    """A published ``(params, macs)`` pair and where it is published."""
    params: float
    macs: float
    source: str


# name -> backbone config (mmdet MODELS), in the order tables list them
BACKBONES: Dict[str, dict] = {
    'GhostNet 0.5x': dict(type='GhostNet', widen_factor=0.5),
    'GhostNet 1.0x': dict(type='GhostNet', widen_factor=1.0),
    'GhostNet 1.1x': dict(type='GhostNet', widen_factor=1.1),
    'GhostNet 1.3x': dict(type='GhostNet', widen_factor=1.3),
    'GhostNetV2 1.0x': dict(type='GhostNetV2', widen_factor=1.0),
    # the deployed form: the training branches folded into single convolutions
    'GhostNetV3 1.0x': dict(type='GhostNetV3', widen_factor=1.0, deploy=True),
    'MobileNetV3-Large': dict(type='MobileNetV3', arch='large'),
    'MobileNetV3-Small': dict(type='MobileNetV3', arch='small'),
    'MobileNetV2 1.0x': dict(type='MobileNetV2', widen_factor=1.0),
}

# whole ImageNet classifiers at 224x224 (params, MACs)
PAPER_CLASSIFIERS: Dict[str, PaperNumber] = {
    'GhostNet 0.5x': PaperNumber(2.6e6, 42e6, 'GhostNet paper, ImageNet table'),
    'GhostNet 1.0x': PaperNumber(5.2e6, 141e6, 'GhostNet paper, ImageNet table'),
    'GhostNet 1.3x': PaperNumber(7.3e6, 226e6, 'GhostNet paper, ImageNet table'),
    'GhostNetV2 1.0x': PaperNumber(
        6.16e6, 167.0e6, "timm 1.0.31's ghostnetv2_100 (GhostNetV2 paper: 6.1M, 167M)"),
    'GhostNetV3 1.0x': PaperNumber(
        6.15e6, 167.0e6, "timm 1.0.31's ghostnetv3_100 after convert_to_deploy()"),
    'MobileNetV3-Large': PaperNumber(
        5.4e6, 219e6, 'GhostNet paper, ImageNet table (from the MobileNetV3 paper)'),
    'MobileNetV3-Small': PaperNumber(2.5e6, 56e6, 'MobileNetV3 paper, ImageNet table'),
    'MobileNetV2 1.0x': PaperNumber(3.4e6, 300e6, 'MobileNetV2 paper, ImageNet table'),
}

# "Backbone FLOPs" at 224x224 of the GhostNet paper's COCO table
PAPER_DETECTION_BACKBONES: Dict[str, float] = {
    'GhostNet 1.1x': 164e6,
    'MobileNetV3-Large': 219e6,
    'MobileNetV2 1.0x': 300e6,
}


def _check(name: str) -> dict:
    if name not in BACKBONES:
        raise KeyError(f'unknown backbone {name!r}; known: {", ".join(BACKBONES)}')
    return dict(BACKBONES[name])


def last_out_index(cfg: dict) -> int:
    """``out_indices`` value of the backbone's last feature map (the last 1x1 conv).

    Args:
        cfg (dict): A backbone config of ``GhostNet`` (``V2``, ``V3``), ``MobileNetV3`` or
            ``MobileNetV2``.

    Returns:
        int: 4 for GhostNet (all versions), 3 for MobileNetV3, 7 for MobileNetV2.
    """
    return {'GhostNet': 4, 'GhostNetV2': 4, 'GhostNetV3': 4, 'MobileNetV3': 3,
            'MobileNetV2': 7}[cfg['type']]


def build_backbone(name: str) -> nn.Module:
    """The backbone ``name`` (a key of :data:`BACKBONES`) returning its last feature map only.

    Args:
        name (str): e.g. ``'GhostNet 1.1x'``.

    Returns:
        nn.Module: The backbone, in eval mode.
    """
    cfg = _check(name)
    cfg['out_indices'] = (last_out_index(cfg), )
    model = build_model(cfg)
    model.eval()
    return model


class ImageNetClassifier(nn.Module):
    """A backbone's last feature map -> global average pool -> a fully connected head.

    Args:
        backbone (nn.Module): Returns a tuple whose last item is the last feature map.
        head (nn.Module): Applied to the pooled, flattened features.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.backbone(x)[-1]).flatten(1))


def build_classifier(name: str, num_classes: int = 1000) -> nn.Module:
    """The whole ImageNet classifier of backbone ``name``, as the papers count it.

    Args:
        name (str): A key of :data:`BACKBONES`.
        num_classes (int): Defaults to 1000.

    Returns:
        nn.Module: The classifier, in eval mode, returning logits.
    """
    cfg = _check(name)
    kind = cfg['type']
    if kind in ('GhostNet', 'GhostNetV2', 'GhostNetV3'):
        model = build_model(dict(cfg, with_classifier=True, num_classes=num_classes))
    else:
        backbone = build_model(dict(cfg, out_indices=(last_out_index(cfg), )))
        if kind == 'MobileNetV3':
            # torchvision's classifier: Linear -> Hardswish -> Dropout -> Linear
            last = {'large': 960, 'small': 576}[cfg['arch']]
            hidden = {'large': 1280, 'small': 1024}[cfg['arch']]
            head = nn.Sequential(
                nn.Linear(last, hidden), nn.Hardswish(), nn.Dropout(0.2),
                nn.Linear(hidden, num_classes))
        else:
            head = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        model = ImageNetClassifier(backbone, head)
    model.eval()
    return model
