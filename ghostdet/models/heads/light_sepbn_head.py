"""RTMDet's shared, separate-BN head with light stacked convolutions."""
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule
from mmdet.models.dense_heads import RTMDetSepBNHead
from mmdet.registry import MODELS

from ..layers import GhostModule

CONV_TYPES = ('ghost', 'depthwise')


def share_convs(module: nn.Module, source: nn.Module) -> None:
    """Make every ``nn.Conv2d`` of ``module`` the one at the same path in ``source`` (a module
    of the same structure), keeping ``module``'s own norm layers."""
    for name, conv in source.named_modules():
        if isinstance(conv, nn.Conv2d):
            parent, _, attr = name.rpartition('.')
            owner = module.get_submodule(parent) if parent else module
            if not isinstance(getattr(owner, attr), nn.Conv2d):
                raise ValueError(f'{name} of {type(module).__name__} is not a Conv2d')
            setattr(owner, attr, conv)


@MODELS.register_module()
class LightSepBNHead(RTMDetSepBNHead):
    """:class:`mmdet.models.dense_heads.RTMDetSepBNHead` whose stacked convs are light.

    Everything but the stacked convs is mmdet's: one set of cls/reg stacks per level whose
    convolution weights are shared across levels while each level keeps its own norm layers,
    the per-level 1x1 prediction convs, the anchor-free point priors, the loss (with the
    ``DynamicSoftLabelAssigner``, ``QualityFocalLoss`` and ``GIoULoss`` of RTMDet's configs)
    and the predict path. Each 3x3 ``ConvModule`` becomes, by ``conv_type``:

    * ``'ghost'``: a :class:`~ghostdet.models.layers.GhostModule`: a ``ghost_kernel_size``
      primary conv makes ``feat_channels / ghost_ratio`` maps and a depthwise ``kernel_size``
      cheap operation the rest. With the defaults (1x1 primary, 5x5 cheap operation) two
      stacked modules see as far as two 5x5 depthwise-separable convs at about half their
      MACs, and run faster on the CPU;
    * ``'depthwise'``: a depthwise ``kernel_size`` conv + norm + act, then a 1x1 conv + norm +
      act (mmcv ``DepthwiseSeparableConvModule``), NanoDet-Plus's head conv. mmdet's own
      ``use_depthwise=True`` cannot share its convs across levels (it assigns ``.conv``, which
      a depthwise-separable module does not have); here the depthwise and pointwise convs
      are both shared.

    Args:
        num_classes (int): Categories without the background.
        in_channels (int): Channels of the input maps (the neck's ``out_channels``).
        conv_type (str): ``'ghost'`` or ``'depthwise'``. Defaults to ``'ghost'``.
        kernel_size (int): Kernel of the depthwise conv: the cheap operation of
            ``'ghost'``, the first conv of ``'depthwise'``. Defaults to 5.
        ghost_kernel_size (int): Kernel of the Ghost modules' primary conv. Defaults to 1.
        ghost_ratio (int): The Ghost modules' ratio ``s``. Defaults to 2.
        **kwargs: ``RTMDetSepBNHead``'s arguments (``feat_channels``, ``stacked_convs``,
            ``share_conv``, ``norm_cfg``, ``act_cfg``, ``pred_kernel_size``,
            ``anchor_generator``, ``bbox_coder``, ``loss_cls``, ``loss_bbox``, ``train_cfg``,
            ``test_cfg``, ...), with mmdet's defaults; ``use_depthwise`` is refused (see
            ``conv_type``).

    Example:
        >>> import torch
        >>> self = LightSepBNHead(3, 96, feat_channels=96, anchor_generator=dict(
        ...     type='MlvlPointGenerator', offset=0, strides=[8, 16, 32])).eval()
        >>> feats = [torch.rand(1, 96, s, s) for s in (40, 20, 10)]
        >>> cls_scores, bbox_preds = self(feats)
        >>> [tuple(c.shape) for c in cls_scores[:2]], tuple(bbox_preds[0].shape)
        ([(1, 3, 40, 40), (1, 3, 20, 20)], (1, 4, 40, 40))
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 conv_type: str = 'ghost',
                 kernel_size: int = 5,
                 ghost_kernel_size: int = 1,
                 ghost_ratio: int = 2,
                 **kwargs) -> None:
        if conv_type not in CONV_TYPES:
            raise ValueError(f'conv_type must be one of {CONV_TYPES}, but got {conv_type!r}')
        for name, value in (('kernel_size', kernel_size),
                            ('ghost_kernel_size', ghost_kernel_size)):
            if not (isinstance(value, int) and value >= 1 and value % 2 == 1):
                raise ValueError(f'{name} must be a positive odd integer, but got {value!r}')
        if kwargs.get('use_depthwise'):
            raise ValueError("use_depthwise is mmdet's option, which cannot share convs across "
                             "levels; use conv_type='depthwise'")
        self.conv_type = conv_type
        self.kernel_size = kernel_size
        self.ghost_kernel_size = ghost_kernel_size
        self.ghost_ratio = ghost_ratio
        super().__init__(num_classes, in_channels, **kwargs)

    def _light_conv(self, in_channels: int) -> nn.Module:
        """One stacked conv ``in_channels -> feat_channels`` with norm and activation."""
        if self.conv_type == 'ghost':
            return GhostModule(
                in_channels,
                self.feat_channels,
                kernel_size=self.ghost_kernel_size,
                ratio=self.ghost_ratio,
                dw_size=self.kernel_size,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        return DepthwiseSeparableConvModule(
            in_channels,
            self.feat_channels,
            self.kernel_size,
            padding=self.kernel_size // 2,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _init_layers(self) -> None:
        """mmdet's layers, then each level's stacked convs replaced by light ones whose
        convolutions (not norms) are level 0's when ``share_conv``."""
        super()._init_layers()
        for stacks in (self.cls_convs, self.reg_convs):
            for level, stack in enumerate(stacks):
                for i in range(self.stacked_convs):
                    stack[i] = self._light_conv(self.in_channels if i == 0 else
                                                self.feat_channels)
                    if self.share_conv and level > 0:
                        share_convs(stack[i], stacks[0][i])
