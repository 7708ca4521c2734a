"""GhostNetV3 backbone (Liu et al., "GhostNetV3: Exploring the Training Strategies for Compact
Models", 2024)."""
from typing import Sequence

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig

from ..layers import GhostBottleneckV3
from ..utils import reparameterize
from .ghostnet import GhostNet


@MODELS.register_module()
class GhostNetV3(GhostNet):
    """GhostNetV3 backbone: GhostNetV2's network trained with re-parameterisable branches.

    Every Ghost module and strided depthwise conv trains as parallel conv + norm branches
    (:class:`~ghostdet.models.layers.GhostModuleV3`,
    :class:`~ghostdet.models.layers.GhostBottleneckV3`); :meth:`reparameterize` (or
    ``deploy=True``) folds each into one convolution, which leaves GhostNetV2's cost and
    gives the same outputs as the training form in eval mode. Same blocks, widths and taps as
    :class:`GhostNet`:

    ========= ========= ====== ===========================
    out_index block     stride channels at widen_factor=1
    ========= ========= ====== ===========================
    0         blocks.2  4      24
    1         blocks.4  8      40
    2         blocks.6  16     112
    3         blocks.8  32     160
    4         blocks.9  32     960
    ========= ========= ====== ===========================

    Parameter names equal timm's ``ghostnetv3_*`` in both forms: the training form loads the
    official (and timm's) ImageNet weights, the deploy form (``deploy=True``) the state dict of
    timm's ``convert_to_deploy()``, through ``init_cfg=dict(type='Pretrained', ...)`` with the
    same key check as :class:`GhostNet`. Fold a trained detector before inference or export
    with :func:`ghostdet.models.utils.reparameterize`; ghostdet's test, demo, benchmark and
    ONNX tools do.

    Args:
        widen_factor (float): Width multiplier; channels are ``make_divisible(c * w, 4)``.
            The paper uses 0.5, 1.0, 1.3 and 1.6. Defaults to 1.0.
        out_indices (Sequence[int]): Taps to return, from 0 to 4 (see above).
            Defaults to (1, 2, 4).
        frozen_stages (int): Freeze the stem and the first ``frozen_stages`` stride stages;
            -1 freezes nothing and 0 the stem only. Allowed: -1 to 5. Defaults to -1.
        ratio (int): Ghost modules' ratio ``s``. Defaults to 2.
        dw_size (int): Ghost modules' cheap-op kernel ``d``. Defaults to 3.
        norm_cfg (dict): A batch norm (folded at deployment). Defaults to ``dict(type='BN')``.
        act_cfg (dict): Defaults to ``dict(type='ReLU')``.
        norm_eval (bool): Keep norm layers in eval mode while training. Defaults to False.
        with_cp (bool): Checkpoint the bottlenecks to save memory. Defaults to False.
        with_classifier (bool): Add the ImageNet classifier and return logits. Defaults to False.
        num_classes (int): Classes of the classifier. Defaults to 1000.
        deploy (bool): Build the folded, single-branch form (for deployed weights).
            Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint='ghostnetv3_100.pth')``. Defaults to None.

    Example:
        >>> import torch
        >>> self = GhostNetV3(widen_factor=0.5, out_indices=(0, 1, 2, 3, 4)).eval()
        >>> x = torch.rand(1, 3, 224, 224)
        >>> training_form = self(x)
        >>> self.reparameterize()
        36
        >>> for out, ref in zip(self(x), training_form):
        ...     print(tuple(out.shape), bool((out - ref).abs().max() < 1e-4))
        (1, 12, 56, 56) True
        (1, 20, 28, 28) True
        (1, 56, 14, 14) True
        (1, 80, 7, 7) True
        (1, 480, 7, 7) True
    """

    bottleneck = GhostBottleneckV3
    attention_from = 2

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
                 deploy: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(widen_factor, out_indices, frozen_stages, ratio, dw_size, norm_cfg,
                         act_cfg, norm_eval, with_cp, with_classifier, num_classes, init_cfg)
        if deploy:
            self.reparameterize()

    def reparameterize(self) -> int:
        """Fold every training branch into its single convolution, in place (a no-op once
        folded).

        Returns:
            int: The number of modules folded.
        """
        return reparameterize(self)
