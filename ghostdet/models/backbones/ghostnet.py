"""GhostNet backbone (Han et al., "GhostNet: More Features from Cheap Operations", CVPR 2020)."""
from typing import List, Optional, Sequence, Tuple, Type

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.models.utils import make_divisible
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from torch import Tensor

from ..layers import ConvBnAct, GhostBottleneck
from ..utils import load_pretrained_init
from .base import TappedBackbone


@MODELS.register_module()
class GhostNet(TappedBackbone):
    """GhostNet backbone.

    ``blocks.0`` .. ``blocks.8`` follow the paper's Table 1, ``blocks.9`` is the 1x1 conv to
    960 (x width) channels. The detection taps are the ends of the stride stages:

    ========= ========= ====== ===========================
    out_index block     stride channels at widen_factor=1
    ========= ========= ====== ===========================
    0         blocks.2  4      24
    1         blocks.4  8      40
    2         blocks.6  16     112
    3         blocks.8  32     160
    4         blocks.9  32     960
    ========= ========= ====== ===========================

    Parameter names equal the official ``state_dict_73.98.pth`` (and timm's ``ghostnet_100``), so
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads ImageNet weights directly;
    ``with_classifier=True`` adds the ImageNet head (``conv_head``, ``classifier``) and makes
    ``forward`` return logits.

    Args:
        widen_factor (float): Width multiplier; channels are ``make_divisible(c * w, 4)``.
            Any positive value (the paper uses 0.5, 1.0, 1.1, 1.3). Defaults to 1.0.
        out_indices (Sequence[int]): Taps to return, from 0 to 4 (see above).
            Defaults to (1, 2, 4).
        frozen_stages (int): Freeze the stem and ``blocks.0`` .. ``blocks.{2 * frozen_stages}``
            (the stem and the first ``frozen_stages`` stride stages); -1 freezes nothing and 0
            the stem only. Allowed: -1 to 5. Defaults to -1.
        ratio (int): Ghost modules' ratio ``s``. Defaults to 2.
        dw_size (int): Ghost modules' cheap-op kernel ``d``. Defaults to 3.
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
        act_cfg (dict): Defaults to ``dict(type='ReLU')``.
        norm_eval (bool): Keep norm layers in eval mode (frozen statistics) while training.
            Defaults to False.
        with_cp (bool): Checkpoint the bottlenecks to save memory. Defaults to False.
        with_classifier (bool): Add the ImageNet classifier and return logits. Defaults to False.
        num_classes (int): Classes of the classifier. Defaults to 1000.
        init_cfg (dict or list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint='state_dict_73.98.pth')``. Defaults to None.

    Example:
        >>> import torch
        >>> self = GhostNet(widen_factor=1.0, out_indices=(0, 1, 2, 3, 4)).eval()
        >>> for out in self(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 24, 56, 56)
        (1, 40, 28, 28)
        (1, 112, 14, 14)
        (1, 160, 7, 7)
        (1, 960, 7, 7)
    """

    # One list per block of ``blocks``; each row: kernel, expansion, out channels, SE ratio, stride.
    arch_settings = [
        [[3, 16, 16, 0, 1]],
        [[3, 48, 24, 0, 2]],
        [[3, 72, 24, 0, 1]],
        [[5, 72, 40, 0.25, 2]],
        [[5, 120, 40, 0.25, 1]],
        [[3, 240, 80, 0, 2]],
        [[3, 200, 80, 0, 1],
         [3, 184, 80, 0, 1],
         [3, 184, 80, 0, 1],
         [3, 480, 112, 0.25, 1],
         [3, 672, 112, 0.25, 1]],
        [[5, 672, 160, 0.25, 2]],
        [[5, 960, 160, 0, 1],
         [5, 960, 160, 0.25, 1],
         [5, 960, 160, 0, 1],
         [5, 960, 160, 0.25, 1]],
    ]  # yapf: disable
    # the block type, and the first block (counted over all bottlenecks) whose ghost1 has DFC
    # attention (None: none has)
    bottleneck: Type[GhostBottleneck] = GhostBottleneck
    attention_from: Optional[int] = None
    stem_channels = 16
    head_conv_channels = 960
    classifier_channels = 1280
    # out_index -> index into ``blocks`` (the end of each stride stage, then the 1x1 conv)
    tap_blocks = (2, 4, 6, 8, 9)
    num_taps = len(tap_blocks)

    def __init__(self,
                 widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (1, 2, 4),
                 frozen_stages: int = -1,
                 ratio: int = 2,
                 dw_size: int = 3,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 with_classifier: bool = False,
                 num_classes: int = 1000,
                 init_cfg: OptMultiConfig = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
                dict(type='Normal', std=0.01, layer='Linear')
            ]
        super().__init__(init_cfg=init_cfg)
        self._init_common(widen_factor, out_indices, frozen_stages, norm_eval)
        self.with_classifier = with_classifier

        channels = make_divisible(self.stem_channels * widen_factor, 4)
        self.conv_stem = nn.Conv2d(3, channels, 3, 2, 1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, channels)[1]
        self.act1 = build_activation_layer(act_cfg)

        stage_channels: List[int] = []
        blocks = []
        index = 0  # of the bottleneck, over all stages
        for layer_cfg in self.arch_settings:
            layers = []
            for kernel, expansion, out, se_ratio, stride in layer_cfg:
                out_channels = make_divisible(out * widen_factor, 4)
                mid_channels = make_divisible(expansion * widen_factor, 4)
                layers.append(
                    self.bottleneck(
                        channels,
                        mid_channels,
                        out_channels,
                        dw_kernel_size=kernel,
                        stride=stride,
                        se_ratio=se_ratio,
                        ratio=ratio,
                        dw_size=dw_size,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg,
                        with_cp=with_cp,
                        with_attention=self.attention_from is not None
                        and index >= self.attention_from))
                channels = out_channels
                index += 1
            blocks.append(nn.Sequential(*layers))
            stage_channels.append(channels)
        head_channels = make_divisible(self.head_conv_channels * widen_factor, 4)
        blocks.append(
            nn.Sequential(
                ConvBnAct(channels, head_channels, norm_cfg=norm_cfg, act_cfg=act_cfg)))
        stage_channels.append(head_channels)
        self.blocks = nn.Sequential(*blocks)
        self.out_channels: Tuple[int, ...] = tuple(
            stage_channels[self.tap_blocks[i]] for i in self.out_indices)

        if with_classifier:
            self.global_pool = nn.AdaptiveAvgPool2d(1)
            self.conv_head = nn.Conv2d(head_channels, self.classifier_channels, 1, bias=True)
            self.act2 = build_activation_layer(act_cfg)
            self.classifier = nn.Linear(self.classifier_channels, num_classes)
        self._freeze_stages()

    def init_weights(self) -> None:
        """Initialize; a ``Pretrained`` init_cfg loads with a key-coverage check (only the
        classifier keys may be left out when the model has no classifier)."""
        ignored = () if self.with_classifier else ('conv_head.', 'classifier.')
        if not load_pretrained_init(self, ignored):
            super().init_weights()

    def _frozen_modules(self) -> List[nn.Module]:
        frozen = [self.conv_stem, self.bn1]
        if self.frozen_stages > 0:
            frozen += list(self.blocks[:self.tap_blocks[self.frozen_stages - 1] + 1])
        return frozen

    def forward(self, x: Tensor):
        x = self.act1(self.bn1(self.conv_stem(x)))
        wanted = {self.tap_blocks[i] for i in self.out_indices}
        feats = {}
        for idx, block in enumerate(self.blocks):
            x = block(x)
            if idx in wanted:
                feats[idx] = x
        if self.with_classifier:
            x = self.act2(self.conv_head(self.global_pool(x)))
            return self.classifier(x.flatten(1))
        return tuple(feats[self.tap_blocks[i]] for i in self.out_indices)
