"""Path aggregation neck whose blocks are Ghost bottlenecks, downsampling depthwise."""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from ..layers import GhostBlocks


@MODELS.register_module()
class GhostPAN(BaseModule):
    """Path Aggregation Network (top-down, then bottom-up) built from :class:`GhostBlocks`.

    Each input is reduced to ``out_channels`` by a 1x1 conv. The top-down path upsamples the
    coarser map, concatenates it with the finer one and fuses the ``2 * out_channels`` maps
    with Ghost bottlenecks; the bottom-up path downsamples with a depthwise-separable stride-2
    conv instead of upsampling. ``num_extra_level`` coarser levels follow, each the sum of a
    depthwise-separable stride-2 conv of the previous reduced input and one of the previous
    output. Every map has ``out_channels`` channels: the whole neck costs a fraction of a
    dense-conv PAN (mmdet's ``CSPNeXtPAFPN``), the shape NanoDet-Plus uses for its neck.

    Args:
        in_channels (Sequence[int]): Input channels per scale, finest first (a backbone's
            ``out_channels``).
        out_channels (int): Channels of every output.
        num_blocks (int): Ghost bottlenecks per fusion block. Defaults to 1.
        expand_ratio (float): The bottlenecks' expansion (``mid = out_channels * ratio``).
            Defaults to 1.0.
        kernel_size (int): Kernel of the depthwise downsampling convs (bottom-up and extra
            levels) and of the bottlenecks' depthwise shortcut. Defaults to 5.
        use_res (bool): Add a 1x1 conv of each fusion block's input to its output.
            Defaults to False.
        num_extra_level (int): Extra levels after the coarsest input, each at twice the
            stride. Defaults to 0.
        ghost_ratio (int): The Ghost modules' ratio ``s``. Defaults to 2.
        ghost_dw_size (int): The Ghost modules' cheap-operation kernel ``d``. Defaults to 3.
        upsample_cfg (dict): ``F.interpolate`` arguments of the top-down path; without
            ``scale_factor`` the coarse map is resized to the finer map's size. Defaults to
            ``dict(mode='nearest')`` (as mmdet's FPN; NanoDet-Plus uses bilinear).
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
        act_cfg (dict): Defaults to ``dict(type='LeakyReLU', negative_slope=0.1)``.
        init_cfg (dict or list[dict], optional): Defaults to mmdet ``CSPNeXtPAFPN``'s Kaiming
            uniform initialization of every ``Conv2d``.

    Example:
        >>> import torch
        >>> in_channels = [40, 112, 960]
        >>> inputs = [torch.rand(1, c, s, s) for c, s in zip(in_channels, [40, 20, 10])]
        >>> self = GhostPAN(in_channels, 96, num_extra_level=1).eval()
        >>> for out in self(inputs):
        ...     print(tuple(out.shape))
        (1, 96, 40, 40)
        (1, 96, 20, 20)
        (1, 96, 10, 10)
        (1, 96, 5, 5)
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_blocks: int = 1,
                 expand_ratio: float = 1.0,
                 kernel_size: int = 5,
                 use_res: bool = False,
                 num_extra_level: int = 0,
                 ghost_ratio: int = 2,
                 ghost_dw_size: int = 3,
                 upsample_cfg: ConfigType = dict(mode='nearest'),
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: OptMultiConfig = dict(
                     type='Kaiming',
                     layer='Conv2d',
                     a=math.sqrt(5),
                     distribution='uniform',
                     mode='fan_in',
                     nonlinearity='leaky_relu')) -> None:
        super().__init__(init_cfg=init_cfg)
        in_channels = list(in_channels)
        if not in_channels or any(not isinstance(c, int) or c < 1 for c in in_channels):
            raise ValueError(f'in_channels must be a non-empty list of positive integers, '
                             f'but got {in_channels!r}')
        if not (isinstance(out_channels, int) and out_channels >= 1):
            raise ValueError(f'out_channels must be a positive integer, but got '
                             f'{out_channels!r}')
        if not (isinstance(num_extra_level, int) and num_extra_level >= 0):
            raise ValueError(f'num_extra_level must be a non-negative integer, but got '
                             f'{num_extra_level!r}')
        if not (isinstance(kernel_size, int) and kernel_size >= 1 and kernel_size % 2 == 1):
            raise ValueError(f'kernel_size must be a positive odd integer, but got '
                             f'{kernel_size!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_extra_level = num_extra_level
        self.num_outs = len(in_channels) + num_extra_level
        self.upsample_cfg = dict(upsample_cfg)
        common = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        block = dict(expand_ratio=expand_ratio, kernel_size=kernel_size, num_blocks=num_blocks,
                     use_res=use_res, ratio=ghost_ratio, dw_size=ghost_dw_size, **common)

        def downsample() -> nn.Module:
            return DepthwiseSeparableConvModule(
                out_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2,
                **common)

        self.reduce_layers = nn.ModuleList(
            ConvModule(c, out_channels, 1, **common) for c in in_channels)
        # top_down_blocks[i] makes level len - 2 - i; bottom_up_blocks[i] level i + 1
        self.top_down_blocks = nn.ModuleList(
            GhostBlocks(2 * out_channels, out_channels, **block)
            for _ in range(len(in_channels) - 1))
        self.downsamples = nn.ModuleList(downsample() for _ in range(len(in_channels) - 1))
        self.bottom_up_blocks = nn.ModuleList(
            GhostBlocks(2 * out_channels, out_channels, **block)
            for _ in range(len(in_channels) - 1))
        self.extra_lvl_in_conv = nn.ModuleList(downsample() for _ in range(num_extra_level))
        self.extra_lvl_out_conv = nn.ModuleList(downsample() for _ in range(num_extra_level))

    def _upsample(self, coarse: Tensor, fine: Tensor) -> Tensor:
        if 'scale_factor' in self.upsample_cfg:
            return F.interpolate(coarse, **self.upsample_cfg)
        return F.interpolate(coarse, size=fine.shape[2:], **self.upsample_cfg)

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        """Maps of ``out_channels`` channels: one per input, then the extra levels."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'GhostPAN got {len(inputs)} feature maps but was built for '
                             f'{len(self.in_channels)} (in_channels={self.in_channels})')
        reduced = [reduce(x) for reduce, x in zip(self.reduce_layers, inputs)]

        # top-down: inner[i] fuses level i with the upsampled inner[i + 1]
        inner: List[Tensor] = [reduced[-1]]
        for i, block in zip(range(len(reduced) - 2, -1, -1), self.top_down_blocks):
            coarse = self._upsample(inner[0], reduced[i])
            inner.insert(0, block(torch.cat([coarse, reduced[i]], 1)))

        # bottom-up: outs[i + 1] fuses inner[i + 1] with the downsampled outs[i] (inner first:
        # torch.export takes the fused size from it, so the extra levels' sum needs no guard)
        outs = [inner[0]]
        for i, (down, block) in enumerate(zip(self.downsamples, self.bottom_up_blocks)):
            outs.append(block(torch.cat([inner[i + 1], down(outs[-1])], 1)))

        source = reduced[-1]
        for in_conv, out_conv in zip(self.extra_lvl_in_conv, self.extra_lvl_out_conv):
            source = in_conv(source)
            outs.append(source + out_conv(outs[-1]))
        return tuple(outs)
