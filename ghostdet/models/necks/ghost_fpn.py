"""FPN whose lateral, output and extra convolutions are Ghost modules."""
from typing import List, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.necks import FPN
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, MultiConfig, OptConfigType

from ..layers import GhostModule


@MODELS.register_module()
class GhostFPN(FPN):
    """Feature Pyramid Network built from :class:`GhostModule`.

    It has mmdet ``FPN``'s signature and forward (top-down path, extra levels), so it replaces
    ``FPN`` in RetinaNet and Faster R-CNN configs as is. Each of FPN's convolutions (1x1
    laterals, 3x3 outputs, strided 3x3 extra convs) becomes a Ghost module of the same kernel,
    stride and widths: a primary convolution makes ``ceil(out_channels / ghost_ratio)`` maps and
    a depthwise ``ghost_dw_size`` convolution the rest, which cuts the neck's MACs roughly by
    ``ghost_ratio``.

    Args:
        in_channels (list[int]): Input channels per scale (a backbone's ``out_channels``).
        out_channels (int): Output channels at each scale.
        num_outs (int): Number of output scales.
        start_level (int): First input level used. Defaults to 0.
        end_level (int): Last input level used (inclusive); -1 for the last. Defaults to -1.
        add_extra_convs (bool or str): Source of the extra levels' convs: ``'on_input'``,
            ``'on_lateral'``, ``'on_output'``; True means ``'on_input'``; False uses max pooling.
            Defaults to False.
        relu_before_extra_convs (bool): Defaults to False.
        no_norm_on_lateral (bool): Defaults to False.
        norm_cfg (dict, optional): Norm of every Ghost module; None for biased convs.
            Defaults to None (as FPN).
        act_cfg (dict, optional): Activation of every Ghost module; None for linear (as FPN).
            Defaults to None.
        upsample_cfg (dict): ``F.interpolate`` arguments. Defaults to ``dict(mode='nearest')``.
        ghost_ratio (int): The Ghost modules' ratio ``s`` (>= 2). Defaults to 2.
        ghost_dw_size (int): The cheap operation's kernel ``d``. Defaults to 3.
        init_cfg (dict or list[dict]): Defaults to Xavier-uniform on every ``Conv2d``.

    Example:
        >>> import torch
        >>> in_channels = [40, 112, 960]
        >>> inputs = [torch.rand(1, c, s, s) for c, s in zip(in_channels, [40, 20, 10])]
        >>> self = GhostFPN(in_channels, 64, num_outs=5, add_extra_convs='on_input').eval()
        >>> for out in self(inputs):
        ...     print(tuple(out.shape))
        (1, 64, 40, 40)
        (1, 64, 20, 20)
        (1, 64, 10, 10)
        (1, 64, 5, 5)
        (1, 64, 3, 3)
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 num_outs: int,
                 start_level: int = 0,
                 end_level: int = -1,
                 add_extra_convs: Union[bool, str] = False,
                 relu_before_extra_convs: bool = False,
                 no_norm_on_lateral: bool = False,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = None,
                 upsample_cfg: ConfigType = dict(mode='nearest'),
                 ghost_ratio: int = 2,
                 ghost_dw_size: int = 3,
                 init_cfg: MultiConfig = dict(
                     type='Xavier', layer='Conv2d', distribution='uniform')) -> None:
        in_channels = list(in_channels)
        if not in_channels or any(not isinstance(c, int) or c < 1 for c in in_channels):
            raise ValueError(f'in_channels must be a non-empty list of positive integers, '
                             f'but got {in_channels!r}')
        num_ins = len(in_channels)
        if not 0 <= start_level < num_ins:
            raise ValueError(f'start_level must be in range(0, {num_ins}), got {start_level}')
        if end_level != -1 and not start_level <= end_level < num_ins:
            raise ValueError(f'end_level must be -1 or in range({start_level}, {num_ins}), '
                             f'got {end_level}')
        used = (num_ins if end_level in (-1, num_ins - 1) else end_level + 1) - start_level
        if num_outs < used or (end_level not in (-1, num_ins - 1) and num_outs != used):
            raise ValueError(f'num_outs={num_outs} does not fit the {used} input levels used '
                             f'(start_level={start_level}, end_level={end_level}); extra '
                             'levels are only allowed when end_level is the last level')
        if add_extra_convs not in (True, False, 'on_input', 'on_lateral', 'on_output'):
            raise ValueError('add_extra_convs must be a bool or one of "on_input", '
                             f'"on_lateral", "on_output", but got {add_extra_convs!r}')
        super().__init__(
            in_channels,
            out_channels,
            num_outs,
            start_level=start_level,
            end_level=end_level,
            add_extra_convs=add_extra_convs,
            relu_before_extra_convs=relu_before_extra_convs,
            no_norm_on_lateral=no_norm_on_lateral,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            upsample_cfg=upsample_cfg,
            init_cfg=init_cfg)
        ghost = dict(ratio=ghost_ratio, dw_size=ghost_dw_size, norm_cfg=norm_cfg,
                     act_cfg=act_cfg)
        for convs in (self.lateral_convs, self.fpn_convs):
            for i, conv in enumerate(convs):
                convs[i] = self._ghost_like(conv, ghost)

    @staticmethod
    def _ghost_like(module: ConvModule, ghost: dict) -> nn.Module:
        """A GhostModule with the kernel, stride and widths of FPN's ``module``."""
        conv = module.conv
        return GhostModule(
            conv.in_channels,
            conv.out_channels,
            kernel_size=conv.kernel_size[0],
            stride=conv.stride[0],
            **dict(ghost, norm_cfg=ghost['norm_cfg'] if module.with_norm else None))
