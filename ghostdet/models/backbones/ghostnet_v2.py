"""GhostNetV2 backbone (Tang et al., "GhostNetV2: Enhance Cheap Operation with Long-Range
Attention", NeurIPS 2022)."""
from mmdet.registry import MODELS

from .ghostnet import GhostNet


@MODELS.register_module()
class GhostNetV2(GhostNet):
    """GhostNetV2 backbone: GhostNet whose bottlenecks, from the third on, gate their first
    Ghost module with DFC attention (:class:`~ghostdet.models.layers.GhostModuleV2`).

    Same blocks, widths, taps and arguments as :class:`GhostNet`:

    ========= ========= ====== ===========================
    out_index block     stride channels at widen_factor=1
    ========= ========= ====== ===========================
    0         blocks.2  4      24
    1         blocks.4  8      40
    2         blocks.6  16     112
    3         blocks.8  32     160
    4         blocks.9  32     960
    ========= ========= ====== ===========================

    Parameter names equal timm's ``ghostnetv2_*`` (the official checkpoints' names, 764 keys at
    1.0x with the classifier), so ``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads
    their ImageNet weights directly, with the same key check as :class:`GhostNet`.

    Args:
        widen_factor (float): Width multiplier; channels are ``make_divisible(c * w, 4)``.
            The paper uses 1.0, 1.3 and 1.6. Defaults to 1.0.
        out_indices (Sequence[int]): Taps to return, from 0 to 4 (see above).
            Defaults to (1, 2, 4).
        frozen_stages (int): Freeze the stem and the first ``frozen_stages`` stride stages;
            -1 freezes nothing and 0 the stem only. Allowed: -1 to 5. Defaults to -1.
        ratio (int): Ghost modules' ratio ``s``. Defaults to 2.
        dw_size (int): Ghost modules' cheap-op kernel ``d``. Defaults to 3.
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
        act_cfg (dict): Defaults to ``dict(type='ReLU')``.
        norm_eval (bool): Keep norm layers in eval mode while training. Defaults to False.
        with_cp (bool): Checkpoint the bottlenecks to save memory. Defaults to False.
        with_classifier (bool): Add the ImageNet classifier and return logits. Defaults to False.
        num_classes (int): Classes of the classifier. Defaults to 1000.
        init_cfg (dict or list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint='ghostnetv2_100.pth')``. Defaults to None.

    Example:
        >>> import torch
        >>> self = GhostNetV2(out_indices=(0, 1, 2, 3, 4)).eval()
        >>> for out in self(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 24, 56, 56)
        (1, 40, 28, 28)
        (1, 112, 14, 14)
        (1, 160, 7, 7)
        (1, 960, 7, 7)
    """

    attention_from = 2
