"""A stack of Ghost bottlenecks, the block of the Ghost-PAN neck."""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptConfigType
from mmengine.model import BaseModule
from torch import Tensor

from .ghost_module import GhostBottleneck


class GhostBlocks(BaseModule):
    """``num_blocks`` stride-1 :class:`GhostBottleneck` s, the first mapping ``in_channels`` to
    ``out_channels``, and optionally a 1x1 conv of the input added to their output.

    A PAN neck feeds it the concatenation of two levels (``2 * out_channels``): the first
    bottleneck's shortcut (depthwise ``kernel_size`` conv + 1x1 conv) and its Ghost modules
    fuse them into ``out_channels`` maps at a fraction of a dense convolution's cost.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expand_ratio (float): Each bottleneck's expansion: ``mid_channels =
            int(out_channels * expand_ratio)``. Defaults to 1.0.
        kernel_size (int): Kernel of the bottlenecks' depthwise shortcut conv (used where the
            width changes). Defaults to 5.
        num_blocks (int): Bottlenecks in the stack. Defaults to 1.
        use_res (bool): Add a 1x1 conv (norm, act) of the input to the output. Defaults to
            False.
        ratio (int): The Ghost modules' ratio ``s``. Defaults to 2.
        dw_size (int): The Ghost modules' cheap-operation kernel ``d``. Defaults to 3.
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation inside the bottlenecks (their output is linear) and of the
            residual conv. Defaults to ``dict(type='LeakyReLU', negative_slope=0.1)``.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.

    Example:
        >>> import torch
        >>> block = GhostBlocks(192, 96, num_blocks=2)
        >>> block(torch.rand(1, 192, 20, 20)).shape
        torch.Size([1, 96, 20, 20])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expand_ratio: float = 1.0,
                 kernel_size: int = 5,
                 num_blocks: int = 1,
                 use_res: bool = False,
                 ratio: int = 2,
                 dw_size: int = 3,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not (isinstance(num_blocks, int) and num_blocks >= 1):
            raise ValueError(f'num_blocks must be a positive integer, but got {num_blocks!r}')
        mid_channels = int(out_channels * expand_ratio)
        if mid_channels < 1:
            raise ValueError(f'expand_ratio={expand_ratio!r} leaves no channels inside the '
                             f'bottlenecks (out_channels={out_channels})')
        self.blocks = nn.Sequential(*[
            GhostBottleneck(
                in_channels if i == 0 else out_channels,
                mid_channels,
                out_channels,
                dw_kernel_size=kernel_size,
                ratio=ratio,
                dw_size=dw_size,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg) for i in range(num_blocks)
        ])
        self.reduce_conv = ConvModule(
            in_channels, out_channels, 1, norm_cfg=norm_cfg,
            act_cfg=act_cfg) if use_res else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.blocks(x)
        if self.reduce_conv is not None:
            out = out + self.reduce_conv(x)
        return out
