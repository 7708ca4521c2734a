"""Synthetic inputs for a detector: images and metainfo as its data preprocessor gives them,
batches with ground-truth boxes as a dataloader gives them to ``train_step``, and RoIs, so a
model can be run, timed, folded or exported without a dataset."""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor


def synthetic_rois(num_rois: int, height: int, width: int, seed: int = 0) -> Tensor:
    """Random boxes inside an image, as RoIs ``(batch_idx=0, x1, y1, x2, y2)``.

    Side lengths are log-uniform between 16 pixels and the shorter image side, so the RoIs
    spread over the FPN levels like real proposals; the box head's MACs do not depend on them.

    Args:
        num_rois (int): Number of RoIs.
        height (int): Image height.
        width (int): Image width.
        seed (int): Seed of the generator. Defaults to 0.

    Returns:
        Tensor: ``(num_rois, 5)`` float RoIs.
    """
    gen = torch.Generator().manual_seed(seed)
    low, high = math.log(16), math.log(max(min(height, width), 17))
    sizes = torch.exp(low + (high - low) * torch.rand(num_rois, 2, generator=gen))
    w, h = sizes.unbind(1)
    x1 = torch.rand(num_rois, generator=gen) * (width - w).clamp(min=0)
    y1 = torch.rand(num_rois, generator=gen) * (height - h).clamp(min=0)
    return torch.stack([torch.zeros(num_rois), x1, y1, x1 + w, y1 + h], dim=1)


def padded_shape(shape: Sequence[int], divisor: int) -> Tuple[int, int]:
    """``(H, W)`` rounded up to multiples of ``divisor`` (mmdet's ``pad_size_divisor``).

    Args:
        shape (Sequence[int]): ``(H, W)``.
        divisor (int): The divisor; 1 or less leaves the shape as it is.

    Returns:
        tuple[int, int]: The padded ``(H, W)``.
    """
    divisor = max(int(divisor), 1)
    return tuple(int(math.ceil(s / divisor) * divisor) for s in shape)  # type: ignore


def synthetic_batch(model: nn.Module,
                    shape: Sequence[int] = (800, 1333),
                    batch_size: int = 1,
                    pad: bool = True,
                    seed: int = 0) -> Tuple[Tensor, List]:
    """Random images and ``DetDataSample`` metainfo for ``model.predict`` / ``mode='tensor'``.

    The images stand for the data preprocessor's output (normalised and padded): shape ``(H, W)``
    rounded up to its ``pad_size_divisor`` when ``pad``.

    Args:
        model (nn.Module): The detector (for its device and pad divisor).
        shape (Sequence[int]): Image ``(H, W)``. Defaults to (800, 1333).
        batch_size (int): Defaults to 1.
        pad (bool): Pad as the data preprocessor does. Defaults to True.
        seed (int): Defaults to 0.

    Returns:
        tuple[Tensor, list[DetDataSample]]: ``(batch_inputs, batch_data_samples)``.
    """
    from mmdet.structures import DetDataSample

    if batch_size < 1:
        raise ValueError(f'batch_size must be positive, but got {batch_size!r}')
    height, width = (int(s) for s in shape)
    divisor = getattr(model.data_preprocessor, 'pad_size_divisor', 1) if pad else 1
    pad_h, pad_w = padded_shape((height, width), divisor)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.rand(batch_size, 3, pad_h, pad_w, generator=gen).to(device)
    samples = []
    for _ in range(batch_size):
        sample = DetDataSample()
        sample.set_metainfo(
            dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                pad_shape=(pad_h, pad_w),
                batch_input_shape=(pad_h, pad_w),
                scale_factor=(1.0, 1.0)))
        samples.append(sample)
    return inputs, samples


def synthetic_train_batch(model: nn.Module,
                          shape: Sequence[int] = (480, 640),
                          batch_size: int = 2,
                          num_classes: int = 1,
                          boxes_per_image: int = 10,
                          seed: int = 0) -> dict:
    """A batch as a dataloader gives it to ``model.train_step``: uint8 images and
    ``DetDataSample`` s with ground-truth boxes, so the data preprocessor, the losses, the
    backward pass and the optimizer step all run as in training (no image decoding).

    Args:
        model (nn.Module): The detector (for its device).
        shape (Sequence[int]): Image ``(H, W)``. Defaults to (480, 640).
        batch_size (int): Defaults to 2.
        num_classes (int): Labels are drawn from ``range(num_classes)``. Defaults to 1.
        boxes_per_image (int): Random boxes of 4% to 25% of the image side. Defaults to 10.
        seed (int): Defaults to 0.

    Returns:
        dict: ``{'inputs': [uint8 (3, H, W) tensors], 'data_samples': [DetDataSample]}``.
    """
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    if batch_size < 1 or num_classes < 1 or boxes_per_image < 1:
        raise ValueError(f'batch_size, num_classes and boxes_per_image must be positive, but '
                         f'got {batch_size}, {num_classes}, {boxes_per_image}')
    height, width = (int(s) for s in shape)
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, height, width), generator=gen,
                                    dtype=torch.uint8))
        side = torch.tensor([width, height, width, height], dtype=torch.float32)
        size = (0.04 + 0.21 * torch.rand(boxes_per_image, 2, generator=gen)) * side[:2]
        corner = torch.rand(boxes_per_image, 2, generator=gen) * (side[:2] - size)
        sample = DetDataSample()
        sample.set_metainfo(dict(img_shape=(height, width), ori_shape=(height, width),
                                 scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([corner, corner + size], dim=1),
            labels=torch.randint(0, num_classes, (boxes_per_image, ), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
