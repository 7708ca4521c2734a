"""GhostNetV3's re-parameterisable Ghost module and bottleneck (Liu et al., "GhostNetV3:
Exploring the Training Strategies for Compact Models", 2024).

They train with parallel convolution + norm branches and fold, by :meth:`reparameterize`, into
exactly the Ghost module and bottleneck of :mod:`.ghost_module` with the norms folded (biased
convolutions): the deployed network costs what GhostNetV2 costs. Parameter names follow timm's
``ghostnetv3_*`` (the official checkpoints' names) in both forms: ``primary_rpr_conv.{i}``,
``cheap_rpr_conv.{i}``, ``cheap_rpr_scale``, ``cheap_rpr_skip``, ``dw_rpr_conv.{i}``,
``dw_rpr_scale`` while training; ``primary_conv.0``, ``cheap_operation.0`` and a biased
``conv_dw`` once folded.
"""
from typing import Tuple

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.utils import OptConfigType
from torch import Tensor

from .ghost_module import ConvBnAct, DFCAttention, GhostBottleneck, GhostModule
from .reparam import Reparameterizable, fold_branches, load_folded


def _activation(act_cfg: OptConfigType) -> nn.Module:
    return nn.Identity() if act_cfg is None else build_activation_layer(act_cfg)


def _branches(num: int, *args, **kwargs) -> nn.ModuleList:
    """``num`` linear conv + norm branches (``ConvBnAct(*args, act_cfg=None, **kwargs)``)."""
    return nn.ModuleList(ConvBnAct(*args, act_cfg=None, **kwargs) for _ in range(num))


class GhostModuleV3(GhostModule, Reparameterizable):
    """GhostNetV3's Ghost module.

    While training, the primary op is the sum of ``num_branches`` parallel ``kernel_size``
    conv + norm branches (``primary_rpr_conv``), and the cheap op the sum of ``num_branches``
    depthwise ``dw_size`` conv + norm branches (``cheap_rpr_conv``), a depthwise 1x1 conv + norm
    (``cheap_rpr_scale``) and, when ``ratio == 2``, a norm of its input (``cheap_rpr_skip``);
    the activation follows each sum. :meth:`reparameterize` folds each sum into one biased
    convolution: the result is a :class:`GhostModule` without norms. With ``with_attention``
    the output is gated by DFC attention (``short_conv``), as in :class:`GhostModuleV2`.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel of the primary convolution. Defaults to 1.
        ratio (int): Output channels per intrinsic map. Defaults to 2.
        dw_size (int): Kernel of the cheap depthwise operation. Defaults to 3.
        stride (int): Stride of the primary convolution. Defaults to 1.
        norm_cfg (dict): A batch norm (folded at deployment). Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation of the two ops; None for linear ones.
            Defaults to ``dict(type='ReLU')``.
        with_attention (bool): DFC attention on the output. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.

    Example:
        >>> import torch
        >>> m = GhostModuleV3(16, 32, with_attention=True).eval()
        >>> x = torch.rand(1, 16, 8, 8)
        >>> y = m(x)
        >>> m.reparameterize()
        >>> sorted(name for name, _ in m.named_children())
        ['cheap_operation', 'primary_conv', 'short_conv']
        >>> bool((m(x) - y).abs().max() < 1e-5)
        True
    """

    # parallel conv + norm branches per op while training (the official value)
    num_branches = 3

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 ratio: int = 2,
                 dw_size: int = 3,
                 stride: int = 1,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 with_attention: bool = False,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, ratio, dw_size, stride,
                         norm_cfg, act_cfg, init_cfg)
        self.deploy = False
        self.short_conv = DFCAttention(
            in_channels, out_channels, kernel_size, stride,
            norm_cfg=norm_cfg) if with_attention else None

    def _make_operations(self, in_channels: int, init_channels: int, kernel_size: int,
                         ratio: int, dw_size: int, stride: int, norm_cfg: OptConfigType,
                         act_cfg: OptConfigType) -> None:
        """Make the training branches (the deployed ops come from :meth:`reparameterize`)."""
        self._deploy_args = (in_channels, init_channels, kernel_size, ratio, dw_size, stride,
                             act_cfg)
        new_channels = init_channels * (ratio - 1)
        self.primary_rpr_conv = _branches(
            self.num_branches, in_channels, init_channels, kernel_size, stride,
            norm_cfg=norm_cfg)
        self.primary_activation = _activation(act_cfg)
        # a norm of the input is an identity branch only when the op keeps the channel count
        self.cheap_rpr_skip = build_norm_layer(norm_cfg, init_channels)[1] \
            if new_channels == init_channels else None
        self.cheap_rpr_conv = _branches(
            self.num_branches, init_channels, new_channels, dw_size, groups=init_channels,
            norm_cfg=norm_cfg)
        self.cheap_rpr_scale = ConvBnAct(
            init_channels, new_channels, 1, groups=init_channels, norm_cfg=norm_cfg,
            act_cfg=None)
        self.cheap_activation = _activation(act_cfg)

    def _intrinsic_and_ghosts(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        if self.deploy:
            return super()._intrinsic_and_ghosts(x)
        intrinsic = self.primary_rpr_conv[0](x)
        for branch in self.primary_rpr_conv[1:]:
            intrinsic = intrinsic + branch(x)
        intrinsic = self.primary_activation(intrinsic)
        ghosts = self.cheap_rpr_scale(intrinsic)
        if self.cheap_rpr_skip is not None:
            ghosts = ghosts + self.cheap_rpr_skip(intrinsic)
        for branch in self.cheap_rpr_conv:
            ghosts = ghosts + branch(intrinsic)
        return intrinsic, self.cheap_activation(ghosts)

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if self.short_conv is None:
            return out
        return out * self.short_conv(x, out.shape[-2:])

    def reparameterize(self) -> None:
        """Fold each op's branches into one biased convolution (``primary_conv.0``,
        ``cheap_operation.0``) and drop the branches; a no-op once folded."""
        if self.deploy:
            return
        primary = fold_branches(self.primary_rpr_conv)
        cheap = fold_branches([*self.cheap_rpr_conv, self.cheap_rpr_scale],
                              identity=self.cheap_rpr_skip)
        like = self.primary_rpr_conv[0].conv.weight
        in_channels, init_channels, kernel_size, ratio, dw_size, stride, act_cfg = \
            self._deploy_args
        super()._make_operations(in_channels, init_channels, kernel_size, ratio, dw_size,
                                 stride, norm_cfg=None, act_cfg=act_cfg)
        load_folded(self.primary_conv[0], *primary, like)
        load_folded(self.cheap_operation[0], *cheap, like)
        for name in ('primary_rpr_conv', 'primary_activation', 'cheap_rpr_skip',
                     'cheap_rpr_conv', 'cheap_rpr_scale', 'cheap_activation'):
            delattr(self, name)
        self.deploy = True


class GhostBottleneckV3(GhostBottleneck, Reparameterizable):
    """GhostNetV3's Ghost bottleneck: :class:`GhostBottleneck` with :class:`GhostModuleV3`
    for ghost1 and ghost2, and, when ``stride > 1``, the depthwise step trained as
    ``num_branches`` parallel depthwise conv + norm branches (``dw_rpr_conv``) and a strided
    depthwise 1x1 conv + norm (``dw_rpr_scale``). :meth:`reparameterize` folds that step into
    one biased ``conv_dw``; the Ghost modules fold themselves (``deploy`` says whether this
    block's own branches are folded: always for ``stride == 1``).

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Channels after ghost1 (the expansion).
        out_channels (int): Output channels.
        dw_kernel_size (int): Kernel of the strided depthwise step and of the shortcut's.
            Defaults to 3.
        stride (int): 1 or 2. Defaults to 1.
        se_ratio (float): SE squeeze ratio; 0 or None for no SE. Defaults to 0.
        ratio (int): The Ghost modules' ratio ``s``. Defaults to 2.
        dw_size (int): The Ghost modules' cheap-op kernel ``d``. Defaults to 3.
        norm_cfg (dict): A batch norm (folded at deployment). Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of ghost1 and of SE's squeeze. Defaults to
            ``dict(type='ReLU')``.
        with_cp (bool): Use checkpointing to save memory at the cost of speed. Defaults to False.
        with_attention (bool): DFC attention in ghost1. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.

    Example:
        >>> import torch
        >>> block = GhostBottleneckV3(24, 72, 40, dw_kernel_size=5, stride=2, se_ratio=0.25)
        >>> block(torch.rand(1, 24, 32, 32)).shape
        torch.Size([1, 40, 16, 16])
    """

    num_branches = 3

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 dw_kernel_size: int = 3,
                 stride: int = 1,
                 se_ratio: float = 0.,
                 ratio: int = 2,
                 dw_size: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 with_cp: bool = False,
                 with_attention: bool = False,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(in_channels, mid_channels, out_channels, dw_kernel_size, stride,
                         se_ratio, ratio, dw_size, norm_cfg, act_cfg, with_cp, with_attention,
                         init_cfg)
        self.deploy = stride == 1

    def _ghost_module(self, in_channels: int, out_channels: int, with_attention: bool,
                      **kwargs) -> GhostModuleV3:
        return GhostModuleV3(in_channels, out_channels, with_attention=with_attention, **kwargs)

    def _make_depthwise(self, channels: int, kernel_size: int, stride: int,
                        norm_cfg: dict) -> None:
        self.dw_rpr_conv = _branches(
            self.num_branches, channels, channels, kernel_size, stride, groups=channels,
            norm_cfg=norm_cfg)
        self.dw_rpr_scale = ConvBnAct(
            channels, channels, 1, stride, groups=channels, norm_cfg=norm_cfg, act_cfg=None)

    def _depthwise(self, x: Tensor) -> Tensor:
        if self.deploy:
            return self.conv_dw(x)
        out = self.dw_rpr_scale(x)
        for branch in self.dw_rpr_conv:
            out = out + branch(x)
        return out

    def reparameterize(self) -> None:
        """Fold the depthwise step's branches into one biased ``conv_dw``; a no-op once folded
        (and for ``stride == 1``, which has no such step)."""
        if self.deploy:
            return
        kernel, bias = fold_branches([*self.dw_rpr_conv, self.dw_rpr_scale])
        conv = self.dw_rpr_conv[0].conv
        self.conv_dw = load_folded(
            nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, groups=conv.groups, bias=True),
            kernel, bias, conv.weight)
        del self.dw_rpr_conv, self.dw_rpr_scale
        self.deploy = True

