"""Detectors from mmdet configs, backbone swaps and synthetic inputs, for analysis without data."""
import copy
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from torch import Tensor

from ..models.structure import check_config_channels
from ..models.utils import load_checked_state_dict, reparameterize
from ..utils.config import config_file, merge_cfg_options
from ..utils.registry import build_model
from .backbones import backbone_out_channels
from .complexity import eval_no_grad, flatten_tensors, padded_shape, synthetic_rois

ConfigLike = Union[str, Path, Config]


def load_config(config: ConfigLike, cfg_options: Optional[dict] = None) -> Config:
    """Load an mmdet config (its ``custom_imports``, e.g. ``ghostdet``, are imported).

    Args:
        config (str, Path or Config): A config file, ``mmdet::...`` path (see
            :func:`ghostdet.utils.config.resolve_config_path`) or loaded config (copied, not
            modified).
        cfg_options (dict, optional): ``key.sub=value`` overrides, as ``--cfg-options`` gives
            them. Defaults to None.

    Returns:
        Config: The config.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        cfg = Config.fromfile(str(config_file(config)))
    merge_cfg_options(cfg, cfg_options)  # an option that would change nothing: refused
    return cfg


def build_detector(config: ConfigLike,
                   cfg_options: Optional[dict] = None,
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu') -> nn.Module:
    """Build the detector of an mmdet config in eval mode; no dataset is needed.

    Weights stay as the constructors leave them unless ``checkpoint`` is given (``init_cfg``
    is not applied, so nothing is loaded or downloaded): fine for counting and timing.
    Re-parameterisable modules (GhostNetV3) are folded, after the checkpoint is loaded, into
    the single-branch form that is deployed.

    Args:
        config (str, Path or Config): The config.
        cfg_options (dict, optional): Overrides merged into the config. Defaults to None.
        checkpoint (str, optional): A local checkpoint to load; one whose weights do not
            fit the detector exactly is refused (``CheckpointMismatchError``). Defaults to
            None.
        device (str): Defaults to ``'cpu'``.

    Returns:
        nn.Module: The detector.
    """
    cfg = load_config(config, cfg_options)
    # a swapped backbone the neck does not fit, or a neck its heads do not: named here
    check_config_channels(cfg, 'the config' if isinstance(config, Config) else str(config))
    model = build_model(cfg.model)
    if checkpoint is not None:  # all of its weights, or an error listing what does not fit
        load_checked_state_dict(model, checkpoint)
    reparameterize(model)  # GhostNetV3: timed and counted as deployed (logged)
    model.to(device)
    model.eval()
    return model


def replace_backbone(config: ConfigLike,
                     backbone: Optional[dict] = None,
                     neck_type: Optional[str] = None) -> Config:
    """A copy of ``config`` with its backbone and/or neck type changed.

    The neck's ``in_channels`` are set to what the new backbone returns, so any backbone drops
    into any FPN-style config; the maps' strides are the caller's to keep: mmdet's configs start
    their FPN at the second of ResNet's four maps, so a backbone there needs four maps too
    (:func:`~ghostdet.models.check_config_channels` names the heads' strides otherwise).

    Args:
        config (str, Path or Config): The detector config.
        backbone (dict, optional): Keys overriding the config's backbone (e.g.
            ``dict(widen_factor=1.3)``); with a different ``type`` the backbone is replaced by
            ``backbone`` alone. None keeps it. Defaults to None.
        neck_type (str, optional): New neck type, e.g. ``'GhostFPN'`` (same arguments as
            ``FPN``). None keeps it. Defaults to None.

    Returns:
        Config: The new config.
    """
    cfg = load_config(config)
    if backbone is not None:
        old = cfg.model.backbone.to_dict()
        if 'type' in backbone and backbone['type'] != old['type']:
            old = {}
        old.update(copy.deepcopy(backbone))
        cfg.model.backbone = ConfigDict(old)
        built = build_model(cfg.model.backbone)
        cfg.model.neck.in_channels = list(backbone_out_channels(built))
    if neck_type is not None:
        cfg.model.neck.type = neck_type
    return cfg


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


class DetectorNetwork(nn.Module):
    """A detector's network without post-processing, with fixed RoIs for a two-stage RoI head.

    ``forward(img)`` runs ``extract_feat`` (backbone + neck), the dense head's ``forward``
    (``rpn_head`` or ``bbox_head``: raw scores and box deltas) and, for two-stage detectors,
    the box branch of the RoI head on ``num_proposals`` synthetic RoIs per image instead of the
    RPN's decoded, NMS-ed proposals. Its cost therefore does not depend on the weights, so
    detectors with different backbones compare on equal terms; decoding and NMS are left out.

    Args:
        detector (nn.Module): An mmdet detector.
        num_proposals (int): RoIs per image for the RoI head. Defaults to 1000.

    Example:
        >>> import torch
        >>> model = build_detector('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
        >>> outs = DetectorNetwork(model, num_proposals=10)(torch.rand(1, 3, 64, 64))
        >>> tuple(outs[-2].shape), tuple(outs[-1].shape)  # RoI head scores and deltas
        ((10, 81), (10, 320))
    """

    def __init__(self, detector: nn.Module, num_proposals: int = 1000) -> None:
        super().__init__()
        if num_proposals < 1:
            raise ValueError(f'num_proposals must be positive, but got {num_proposals!r}')
        self.detector = detector
        self.num_proposals = num_proposals
        self._rois: dict = {}

    def rois(self, img: Tensor) -> Tensor:
        """The fixed RoIs of a batch shaped like ``img`` (cached per shape)."""
        key = (tuple(img.shape), img.device)
        if key not in self._rois:
            batch, _, height, width = img.shape
            one = synthetic_rois(self.num_proposals, height, width)
            rois = []
            for i in range(batch):
                image_rois = one.clone()
                image_rois[:, 0] = i
                rois.append(image_rois)
            self._rois[key] = torch.cat(rois).to(img.device)
        return self._rois[key]

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        model = self.detector
        feats = model.extract_feat(img)
        head = model.rpn_head if getattr(model, 'with_rpn', False) else model.bbox_head
        outs = flatten_tensors(head(feats))
        roi_head = getattr(model, 'roi_head', None)
        if isinstance(roi_head, nn.Module):
            extractor = roi_head.bbox_roi_extractor
            bbox_feats = extractor(feats[:extractor.num_inputs], self.rois(img))
            if getattr(roi_head, 'with_shared_head', False):
                bbox_feats = roi_head.shared_head(bbox_feats)
            outs = outs + flatten_tensors(roi_head.bbox_head(bbox_feats))
        return outs


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Set every BatchNorm's running statistics and affine parameters of ``model`` (in place)
    to seeded random values a trained model could have: mean in [-0.5, 0.5], variance in
    [0.5, 2], weight in [0.5, 1.5], bias in [-0.2, 0.2]. Fresh statistics (mean 0, variance 1,
    weight 1, bias 0) make a BatchNorm a near identity, which hides a wrong fold. Returns
    ``model``."""
    from torch.nn.modules.batchnorm import _BatchNorm

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                for tensor, (low, high) in ((m.running_mean, (-0.5, 0.5)),
                                            (m.running_var, (0.5, 2.0)), (m.weight, (0.5, 1.5)),
                                            (m.bias, (-0.2, 0.2))):
                    if tensor is not None:
                        values = torch.empty(tensor.shape).uniform_(low, high, generator=gen)
                        tensor.copy_(values)
    return model


def relative_difference(expected: Sequence[Tensor], got: Sequence[Tensor]) -> float:
    """The largest difference between two models' outputs, each output's relative to its
    largest magnitude in ``expected`` (absolute where that is 0). Raises ValueError when the
    outputs differ in number or shape."""
    if len(expected) != len(got):
        raise ValueError(f'{len(got)} outputs, expected {len(expected)}')
    worst = 0.0
    for want, have in zip(expected, got):
        if tuple(want.shape) != tuple(have.shape):
            raise ValueError(f'an output shaped {tuple(have.shape)}, expected '
                             f'{tuple(want.shape)}')
        if want.numel():
            scale = float(want.abs().max())
            diff = float((want - have).abs().max())
            worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def fuse_conv_bn(model: nn.Module,
                 img: Tensor,
                 rtol: float = 1e-4,
                 num_proposals: int = 100,
                 inplace: bool = False) -> Tuple[nn.Module, int, float]:
    """A copy of ``model`` with each BatchNorm folded into the convolution before it, as
    deployment does (mmcv's ``fuse_conv_bn``: one convolution instead of a convolution and a
    normalisation over its whole output), checked to compute what the model computes.

    mmcv folds a BatchNorm into the ``Conv2d`` registered just before it in the same parent
    module, which assumes that the forward applies them in that order. The check catches a model
    where it does not. It folds a second copy whose BatchNorms hold random statistics
    (:func:`randomize_batchnorm`; the model's own may fold to a near identity, as fresh ones do)
    and requires its outputs on ``img`` to equal the unfolded copy's within ``rtol`` of each
    output's largest magnitude. For a detector the outputs are :class:`DetectorNetwork`'s
    (backbone, neck and heads, a two-stage RoI head on ``num_proposals`` fixed RoIs), which do
    not depend on NMS picking the same boxes.

    Args:
        model (nn.Module): A model (an mmdet detector or any module taking ``img``).
        img (Tensor): An input batch, on the model's device.
        rtol (float): Largest accepted difference, relative to each output's largest
            magnitude. Defaults to 1e-4 (float32 folding differs by about 1e-6).
        num_proposals (int): RoIs per image for a two-stage check. Defaults to 100.
        inplace (bool): Fold ``model`` itself (once the check has passed) instead of a copy.
            Defaults to False.

    Returns:
        tuple[nn.Module, int, float]: The folded model (a copy unless ``inplace``; in eval
        mode), the number of BatchNorm layers folded and the largest relative difference of
        the check.

    Raises:
        ValueError: The check's outputs differ by more than ``rtol``.
    """
    from mmcv.cnn import fuse_conv_bn as mmcv_fuse_conv_bn
    from torch.nn.modules.batchnorm import _BatchNorm

    def norms(module: nn.Module) -> int:
        return sum(isinstance(m, _BatchNorm) for m in module.modules())

    def outputs(module: nn.Module) -> Tuple[Tensor, ...]:
        if hasattr(module, 'extract_feat'):
            module = DetectorNetwork(module, num_proposals)
        with eval_no_grad(module):
            return flatten_tensors(module(img))

    def fold(module: nn.Module) -> nn.Module:
        return mmcv_fuse_conv_bn(copy.deepcopy(module).eval())

    probe = randomize_batchnorm(copy.deepcopy(model))
    worst = relative_difference(outputs(probe), outputs(fold(probe)))
    del probe
    if worst > rtol:
        raise ValueError(
            f'folding BatchNorm into the convolutions changes the outputs by up to {worst:.3g} '
            f'of their magnitude (more than {rtol:g}): some BatchNorm is not applied to the '
            'output of the convolution registered just before it, so mmcv\'s fuse_conv_bn '
            'cannot fold this model')
    before = norms(model)
    fused = mmcv_fuse_conv_bn(model.eval()) if inplace else fold(model)
    return fused, before - norms(fused), worst


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
