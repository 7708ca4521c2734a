"""The Ghost module and Ghost bottleneck of GhostNet (Han et al., CVPR 2020), and the DFC
attention GhostNetV2 (Tang et al., NeurIPS 2022) adds to the Ghost module.

Parameter names follow the official implementations (and timm's ``ghostnet_100`` and
``ghostnetv2_100``): ``primary_conv.{0,1}``, ``cheap_operation.{0,1}``, ``short_conv.{0..5}``,
``conv_dw``/``bn_dw``, ``se.conv_reduce``/``se.conv_expand`` and ``shortcut.{0,1,2,3}``, so
official ImageNet weights load without a converter.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.models.utils import make_divisible
from mmdet.utils import OptConfigType
from mmengine.model import BaseModule
from torch import Tensor
from mmengine.registry import MODELS as MMCV_MODELS

# torch's hard sigmoid, relu6(x + 3) / 6, by name (mmcv's HSigmoid warns on every build)
if MMCV_MODELS.get('Hardsigmoid') is None:
    MMCV_MODELS.register_module(module=nn.Hardsigmoid)


def _conv_norm_act(in_channels: int,
                   out_channels: int,
                   kernel_size: int,
                   stride: int = 1,
                   groups: int = 1,
                   norm_cfg: OptConfigType = dict(type='BN'),
                   act_cfg: OptConfigType = dict(type='ReLU')) -> nn.Sequential:
    """``Sequential(conv, norm, act)`` indexed 0/1/2 as in the official checkpoints.

    Without a norm layer the convolution gets a bias; without ``act_cfg`` the output is linear.
    """
    layers = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=norm_cfg is None)
    ]
    if norm_cfg is not None:
        layers.append(build_norm_layer(norm_cfg, out_channels)[1])
    if act_cfg is not None:
        layers.append(build_activation_layer(act_cfg))
    return nn.Sequential(*layers)


class ConvBnAct(nn.Module):
    """Convolution + norm (+ activation), named ``conv``/``bn1``/``act1`` like timm's
    ``ConvBnAct``: GhostNet's last 1x1 conv (``blocks.9.0``) and GhostNetV3's training branches.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Defaults to 1.
        stride (int): Defaults to 1.
        groups (int): Defaults to 1.
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): None for a linear output. Defaults to ``dict(type='ReLU')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 groups: int = 1,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='ReLU')) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False)
        self.bn1 = build_norm_layer(norm_cfg, out_channels)[1]
        self.act1 = None if act_cfg is None else build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn1(self.conv(x))
        return x if self.act1 is None else self.act1(x)


class GhostModule(BaseModule):
    """Ghost module: a few ordinary convolutions make intrinsic feature maps and cheap depthwise
    convolutions make "ghost" maps from them.

    ``primary_conv`` (kernel ``kernel_size``, stride ``stride``) makes
    ``init_channels = ceil(out_channels / ratio)`` intrinsic maps; ``cheap_operation`` (a depthwise
    ``dw_size`` convolution) makes ``ratio - 1`` ghosts of each; the two are concatenated and the
    result sliced to ``out_channels``, so any width (odd ones included) and any ``ratio >= 2`` work.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel of the primary convolution. Defaults to 1.
        ratio (int): The paper's ``s``: output channels per intrinsic map. Defaults to 2.
        dw_size (int): The paper's ``d``: kernel of the cheap depthwise operation. Defaults to 3.
        stride (int): Stride of the primary convolution. Defaults to 1.
        norm_cfg (dict, optional): Norm after each convolution; None for a biased conv and no
            norm. Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation after each convolution; None for a linear module.
            Defaults to ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.

    Example:
        >>> import torch
        >>> m = GhostModule(16, 37, ratio=3)
        >>> m(torch.rand(1, 16, 8, 8)).shape
        torch.Size([1, 37, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 ratio: int = 2,
                 dw_size: int = 3,
                 stride: int = 1,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not (isinstance(ratio, int) and ratio >= 2):
            raise ValueError(f'ratio must be an integer >= 2, but got {ratio!r}')
        for name, value in (('in_channels', in_channels), ('out_channels', out_channels),
                            ('kernel_size', kernel_size), ('dw_size', dw_size),
                            ('stride', stride)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f'{name} must be a positive integer, but got {value!r}')
        self.out_channels = out_channels
        self._make_operations(in_channels, math.ceil(out_channels / ratio), kernel_size, ratio,
                              dw_size, stride, norm_cfg, act_cfg)

    def _make_operations(self, in_channels: int, init_channels: int, kernel_size: int,
                         ratio: int, dw_size: int, stride: int, norm_cfg: OptConfigType,
                         act_cfg: OptConfigType) -> None:
        """Make ``primary_conv`` and ``cheap_operation``."""
        self.primary_conv = _conv_norm_act(
            in_channels,
            init_channels,
            kernel_size,
            stride,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.cheap_operation = _conv_norm_act(
            init_channels,
            init_channels * (ratio - 1),
            dw_size,
            groups=init_channels,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

    def _intrinsic_and_ghosts(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        intrinsic = self.primary_conv(x)
        return intrinsic, self.cheap_operation(intrinsic)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self._intrinsic_and_ghosts(x), dim=1)[:, :self.out_channels]


class DFCAttention(nn.Sequential):
    """Decoupled fully connected (DFC) attention of GhostNetV2, a gate in (0, 1) per output
    element of a Ghost module.

    On the input halved by 2x2 average pooling: a ``kernel_size`` conv (``stride``) to
    ``out_channels`` + norm, a depthwise ``1 x dfc_size`` conv + norm (the horizontal
    fully connected layer, local to ``dfc_size`` columns) and a depthwise ``dfc_size x 1`` conv +
    norm (the vertical one); then a sigmoid, and nearest upsampling to the output's size.
    Indexed ``0..5`` like the official ``short_conv``.

    Args:
        in_channels (int): Input channels of the Ghost module.
        out_channels (int): Output channels of the Ghost module.
        kernel_size (int): The Ghost module's primary kernel. Defaults to 1.
        stride (int): The Ghost module's stride. Defaults to 1.
        dfc_size (int): Length of the horizontal and vertical kernels. Defaults to 5.
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 dfc_size: int = 5,
                 norm_cfg: dict = dict(type='BN')) -> None:
        pad = dfc_size // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                      bias=False),
            build_norm_layer(norm_cfg, out_channels)[1],
            nn.Conv2d(out_channels, out_channels, (1, dfc_size), 1, (0, pad),
                      groups=out_channels, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1],
            nn.Conv2d(out_channels, out_channels, (dfc_size, 1), 1, (pad, 0),
                      groups=out_channels, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self, x: Tensor, size: Sequence[int]) -> Tensor:
        """The gate for input ``x`` at the output's spatial ``size``."""
        gate = super().forward(F.avg_pool2d(x, kernel_size=2, stride=2)).sigmoid()
        return F.interpolate(gate, size=size, mode='nearest')


class GhostModuleV2(GhostModule):
    """GhostNetV2's Ghost module: the Ghost module's output times its DFC attention
    (``short_conv``, :class:`DFCAttention`), which lets the cheap module see long-range
    context.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel of the primary convolution. Defaults to 1.
        ratio (int): Output channels per intrinsic map. Defaults to 2.
        dw_size (int): Kernel of the cheap depthwise operation. Defaults to 3.
        stride (int): Stride of the primary convolution. Defaults to 1.
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation of the Ghost branches; None for linear ones.
            Defaults to ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.

    Example:
        >>> import torch
        >>> m = GhostModuleV2(16, 48)
        >>> m(torch.rand(1, 16, 9, 7)).shape
        torch.Size([1, 48, 9, 7])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 ratio: int = 2,
                 dw_size: int = 3,
                 stride: int = 1,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, ratio, dw_size, stride,
                         norm_cfg, act_cfg, init_cfg)
        self.short_conv = DFCAttention(
            in_channels, out_channels, kernel_size, stride, norm_cfg=norm_cfg)

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out * self.short_conv(x, out.shape[-2:])


class SqueezeExcite(BaseModule):
    """Squeeze-and-excitation with a hard-sigmoid gate, as GhostNet uses it.

    Args:
        channels (int): Input (and output) channels.
        se_ratio (float): Squeeze channels are ``make_divisible(channels * se_ratio, divisor)``.
            Defaults to 0.25.
        divisor (int): Defaults to 4.
        act_cfg (dict): Activation between the two convolutions. Defaults to ``dict(type='ReLU')``.
        gate_cfg (dict): The gate. Defaults to ``dict(type='Hardsigmoid')``, ``relu6(x + 3) / 6``.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 channels: int,
                 se_ratio: float = 0.25,
                 divisor: int = 4,
                 act_cfg: dict = dict(type='ReLU'),
                 gate_cfg: dict = dict(type='Hardsigmoid'),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        reduced = make_divisible(channels * se_ratio, divisor)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = build_activation_layer(act_cfg)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = build_activation_layer(gate_cfg)

    def forward(self, x: Tensor) -> Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.conv_expand(self.act(self.conv_reduce(scale)))
        return x * self.gate(scale)


class GhostBottleneck(BaseModule):
    """Ghost bottleneck: ghost1 (with activation) -> depthwise conv + norm (only when
    ``stride > 1``) -> optional SE -> ghost2 (linear), plus a shortcut that is the identity, or a
    depthwise conv + norm and a 1x1 conv + norm when the shape changes.

    With ``with_attention``, ghost1 is GhostNetV2's :class:`GhostModuleV2` (DFC attention), as
    in every GhostNetV2 bottleneck but the first two. Subclasses change the Ghost modules
    (:meth:`_ghost_module`) and the strided depthwise step (:meth:`_make_depthwise`,
    :meth:`_depthwise`).

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Channels after ghost1 (the expansion).
        out_channels (int): Output channels.
        dw_kernel_size (int): Kernel of the strided depthwise conv and of the shortcut's.
            Defaults to 3.
        stride (int): 1 or 2. Defaults to 1.
        se_ratio (float): SE squeeze ratio; 0 or None for no SE. Defaults to 0.
        ratio (int): The Ghost modules' ratio ``s``. Defaults to 2.
        dw_size (int): The Ghost modules' cheap-op kernel ``d``. Defaults to 3.
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of ghost1 and of SE's squeeze. Defaults to
            ``dict(type='ReLU')``.
        with_cp (bool): Use checkpointing to save memory at the cost of speed. Defaults to False.
        with_attention (bool): DFC attention in ghost1 (GhostNetV2). Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.

    Example:
        >>> import torch
        >>> block = GhostBottleneck(24, 72, 40, dw_kernel_size=5, stride=2, se_ratio=0.25)
        >>> block(torch.rand(1, 24, 32, 32)).shape
        torch.Size([1, 40, 16, 16])
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 dw_kernel_size: int = 3,
                 stride: int = 1,
                 se_ratio: Optional[float] = 0.,
                 ratio: int = 2,
                 dw_size: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 with_cp: bool = False,
                 with_attention: bool = False,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride!r}')
        self.stride = stride
        self.with_cp = with_cp
        ghost = dict(ratio=ratio, dw_size=dw_size, norm_cfg=norm_cfg)
        self.ghost1 = self._ghost_module(
            in_channels, mid_channels, act_cfg=act_cfg, with_attention=with_attention, **ghost)
        if stride > 1:
            self._make_depthwise(mid_channels, dw_kernel_size, stride, norm_cfg)
        self.se = SqueezeExcite(
            mid_channels, se_ratio, act_cfg=act_cfg) if se_ratio else None
        self.ghost2 = self._ghost_module(
            mid_channels, out_channels, act_cfg=None, with_attention=False, **ghost)
        if in_channels == out_channels and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(
                    in_channels,
                    in_channels,
                    dw_kernel_size,
                    stride,
                    padding=dw_kernel_size // 2,
                    groups=in_channels,
                    bias=False),
                build_norm_layer(norm_cfg, in_channels)[1],
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                build_norm_layer(norm_cfg, out_channels)[1])

    def _ghost_module(self, in_channels: int, out_channels: int, with_attention: bool,
                      **kwargs) -> GhostModule:
        """ghost1 or ghost2."""
        module = GhostModuleV2 if with_attention else GhostModule
        return module(in_channels, out_channels, **kwargs)

    def _make_depthwise(self, channels: int, kernel_size: int, stride: int,
                        norm_cfg: dict) -> None:
        """Make the strided depthwise step, ``conv_dw`` + ``bn_dw``."""
        self.conv_dw = nn.Conv2d(
            channels,
            channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            groups=channels,
            bias=False)
        self.bn_dw = build_norm_layer(norm_cfg, channels)[1]

    def _depthwise(self, x: Tensor) -> Tensor:
        return self.bn_dw(self.conv_dw(x))

    def _forward(self, x: Tensor) -> Tensor:
        out = self.ghost1(x)
        if self.stride > 1:
            out = self._depthwise(out)
        if self.se is not None:
            out = self.se(out)
        return self.ghost2(out) + self.shortcut(x)

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return torch.utils.checkpoint.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)
