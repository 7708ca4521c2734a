"""mmdet's sigmoid focal loss, computed in float32 whatever precision the head ran in."""
from typing import Optional

import torch
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS


@MODELS.register_module()
class FP32FocalLoss(FocalLoss):
    """:class:`mmdet.models.losses.FocalLoss` that casts the logits to float32 first.

    Under ``--amp`` the classification logits come out of the head in float16, and on CUDA
    mmdet's ``FocalLoss`` hands them to mmcv's ``sigmoid_focal_loss`` kernel as they are. That
    kernel guards its logarithms with ``max(x, (T)FLT_MIN)``, and ``FLT_MIN`` (1.2e-38) is 0 in
    float16: once a logit passes about 8.3, ``1 - sigmoid(x)`` rounds to 0, the loss term for a
    class that is not the target becomes ``-log(0) = inf``, and an ignored anchor (weight 0)
    turns it into NaN, in the loss and in the gradient. Computing the loss in float32, as a
    float32 run does anyway, removes that; the gradient flows back to the float16 logits
    through the cast. In float32 runs the result is bit-identical to ``FocalLoss``.

    Args:
        use_sigmoid (bool): Must be True (sigmoid focal loss). Defaults to True.
        gamma (float): The focusing parameter. Defaults to 2.0.
        alpha (float): The balance between positives and negatives. Defaults to 0.25.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        activated (bool): Whether ``pred`` are probabilities rather than logits.
            Defaults to False.

    Example:
        >>> import torch
        >>> loss = FP32FocalLoss()
        >>> pred = torch.tensor([[12.0, -3.0, -3.0]], dtype=torch.half)
        >>> loss(pred, torch.tensor([3])).dtype  # 3 = background
        torch.float32
    """

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Same as :meth:`FocalLoss.forward`, on ``pred.float()`` (and a float ``weight``)."""
        if weight is not None and weight.is_floating_point():
            weight = weight.float()
        return super().forward(pred.float(), target, weight, avg_factor, reduction_override)
