"""MobileNetV3 backbone (Howard et al., ICCV 2019) composed from mmdet/mmcv layers."""
from typing import List, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.layers import InvertedResidual
from mmdet.models.utils import make_divisible
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from torch import Tensor

from ..layers import ghost_module  # noqa: F401  (registers Hardsigmoid)
from ..utils import load_pretrained_init
from .base import TappedBackbone


@MODELS.register_module()
class MobileNetV3(TappedBackbone):
    """MobileNetV3 Large/Small backbone with detection taps at the end of each stride stage.

    ``features.0`` is the stem, ``features.1..N`` mmdet ``InvertedResidual`` blocks (SE with a
    hard-sigmoid gate) and ``features.N+1`` the last 1x1 conv, numbered like torchvision's
    ``mobilenet_v3_{large,small}.features`` so that
    ``tools/model_converters/torchvision_mobilenetv3.py`` maps its ImageNet weights one to one.

    ========= ======================= =======================
    out_index Large (feature, ch@str) Small (feature, ch@str)
    ========= ======================= =======================
    0         features.3, 24@4        features.1, 16@4
    1         features.6, 40@8        features.3, 24@8
    2         features.12, 112@16     features.8, 48@16
    3         features.16, 960@32     features.12, 576@32
    ========= ======================= =======================

    Args:
        arch (str): ``'large'`` or ``'small'``. Defaults to ``'large'``.
        widen_factor (float): Width multiplier, channels ``make_divisible(c * w, 8)`` as in
            torchvision. Defaults to 1.0.
        out_indices (Sequence[int]): Taps to return, 0 to 3. Defaults to (1, 2, 3).
        frozen_stages (int): Freeze the stem and the first ``frozen_stages`` stride stages
            (-1: nothing, 0: the stem). Allowed: -1 to 4. Defaults to -1.
        norm_cfg (dict): Defaults to ``dict(type='BN', eps=0.001, momentum=0.01)``
            (torchvision's MobileNetV3 setting).
        norm_eval (bool): Keep norm layers in eval mode while training. Defaults to False.
        with_cp (bool): Checkpoint the blocks to save memory. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.

    Example:
        >>> import torch
        >>> self = MobileNetV3('small', out_indices=(0, 1, 2, 3)).eval()
        >>> for out in self(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 16, 56, 56)
        (1, 24, 28, 28)
        (1, 48, 14, 14)
        (1, 576, 7, 7)
    """

    # kernel, expansion, out channels, SE, activation, stride (torchvision's bneck table)
    arch_settings = {
        'large': [[3, 16, 16, False, 'ReLU', 1],
                  [3, 64, 24, False, 'ReLU', 2],
                  [3, 72, 24, False, 'ReLU', 1],
                  [5, 72, 40, True, 'ReLU', 2],
                  [5, 120, 40, True, 'ReLU', 1],
                  [5, 120, 40, True, 'ReLU', 1],
                  [3, 240, 80, False, 'HSwish', 2],
                  [3, 200, 80, False, 'HSwish', 1],
                  [3, 184, 80, False, 'HSwish', 1],
                  [3, 184, 80, False, 'HSwish', 1],
                  [3, 480, 112, True, 'HSwish', 1],
                  [3, 672, 112, True, 'HSwish', 1],
                  [5, 672, 160, True, 'HSwish', 2],
                  [5, 960, 160, True, 'HSwish', 1],
                  [5, 960, 160, True, 'HSwish', 1]],
        'small': [[3, 16, 16, True, 'ReLU', 2],
                  [3, 72, 24, False, 'ReLU', 2],
                  [3, 88, 24, False, 'ReLU', 1],
                  [5, 96, 40, True, 'HSwish', 2],
                  [5, 240, 40, True, 'HSwish', 1],
                  [5, 240, 40, True, 'HSwish', 1],
                  [5, 120, 48, True, 'HSwish', 1],
                  [5, 144, 48, True, 'HSwish', 1],
                  [5, 288, 96, True, 'HSwish', 2],
                  [5, 576, 96, True, 'HSwish', 1],
                  [5, 576, 96, True, 'HSwish', 1]],
    }  # yapf: disable
    stem_channels = 16
    last_conv_expansion = 6
    tap_strides = (4, 8, 16, 32)
    num_taps = len(tap_strides)

    def __init__(self,
                 arch: str = 'large',
                 widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (1, 2, 3),
                 frozen_stages: int = -1,
                 norm_cfg: ConfigType = dict(type='BN', eps=0.001, momentum=0.01),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d', mode='fan_out'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
            ]
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_settings:
            raise ValueError(f'arch must be one of {sorted(self.arch_settings)}, '
                             f'but got {arch!r}')
        self._init_common(widen_factor, out_indices, frozen_stages, norm_eval)
        self.arch = arch

        channels = make_divisible(self.stem_channels * widen_factor, 8)
        features: List[nn.Module] = [
            ConvModule(3, channels, 3, 2, 1, norm_cfg=norm_cfg, act_cfg=dict(type='HSwish'))
        ]
        strides = [2]
        for kernel, expansion, out, with_se, act, stride in self.arch_settings[arch]:
            mid = make_divisible(expansion * widen_factor, 8)
            out = make_divisible(out * widen_factor, 8)
            se_cfg = None
            if with_se:
                squeeze = make_divisible(mid // 4, 8)
                # mmdet's SELayer squeezes to int(channels / ratio): this ratio gives `squeeze`
                se_cfg = dict(
                    channels=mid,
                    ratio=mid / (squeeze + 0.5),
                    act_cfg=(dict(type='ReLU'), dict(type='Hardsigmoid')))
            features.append(
                InvertedResidual(
                    channels,
                    out,
                    mid,
                    kernel_size=kernel,
                    stride=stride,
                    se_cfg=se_cfg,
                    with_expand_conv=mid != channels,
                    norm_cfg=norm_cfg,
                    act_cfg=dict(type=act),
                    with_cp=with_cp))
            strides.append(strides[-1] * stride)
            channels = out
        last = make_divisible(channels * self.last_conv_expansion, 8)
        features.append(
            ConvModule(channels, last, 1, norm_cfg=norm_cfg, act_cfg=dict(type='HSwish')))
        strides.append(strides[-1])
        self.features = nn.Sequential(*features)
        # the last feature of each output stride is that stride stage's end
        self.tap_features = tuple(
            max(i for i, s in enumerate(strides) if s == stride) for stride in self.tap_strides)
        feature_channels = [channels_of(m) for m in features]
        self.out_channels: Tuple[int, ...] = tuple(
            feature_channels[self.tap_features[i]] for i in self.out_indices)
        self._freeze_stages()

    def init_weights(self) -> None:
        """Initialize; a ``Pretrained`` init_cfg loads with a key-coverage check."""
        if not load_pretrained_init(self):
            super().init_weights()

    def _frozen_modules(self) -> List[nn.Module]:
        last = 0 if self.frozen_stages == 0 else self.tap_features[self.frozen_stages - 1]
        return list(self.features[:last + 1])

    def forward(self, x: Tensor) -> tuple:
        wanted = {self.tap_features[i] for i in self.out_indices}
        feats = {}
        for idx, layer in enumerate(self.features):
            x = layer(x)
            if idx in wanted:
                feats[idx] = x
        return tuple(feats[self.tap_features[i]] for i in self.out_indices)


def channels_of(module: nn.Module) -> int:
    """Output channels of a ``ConvModule`` or an ``InvertedResidual``."""
    if isinstance(module, InvertedResidual):
        module = module.linear_conv
    return module.conv.out_channels
