"""Parameter and MAC counting: the GhostNet paper's convention and mmengine's FlopAnalyzer.

The paper's convention ("FLOPs" in Han et al., 2020, as in the MobileNet papers) counts the
multiply-accumulates of convolutions and fully connected layers only: a convolution costs
``output elements x in_channels / groups x kernel area`` MACs (depthwise and grouped included),
a linear layer ``output elements x in_features``; biases, BatchNorm (folded into the convolution
at inference), activations, pooling, additions, concatenations and SE's elementwise products
cost nothing. Parameters are all parameters, BatchNorm's included (GhostNet 1.0x with its
classifier: 5,182,508, timm's ``ghostnet_100``).

mmengine's :class:`~mmengine.analysis.FlopAnalyzer` (fvcore's counter, what mmdet's
``get_flops`` reports) traces the model with ``torch.jit`` and counts one fused multiply-add as
one flop for convolutions and matmuls, but it also counts BatchNorm, upsampling and adaptive
pooling, so its totals are a little higher; ops it does not know (e.g. mmcv's RoIAlign, NMS) count
zero. :func:`detector_complexity` reports both, per detector component.
"""
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.conv import _ConvNd

from ..models.fuse import flatten_tensors
from ..models.structure import eval_no_grad
from ..models.synthetic_inputs import padded_shape, synthetic_rois

Inputs = Union[Tensor, Sequence[Any]]


def count_params(module: nn.Module) -> int:
    """Number of parameters of ``module``, trainable or not, BatchNorm's included."""
    return sum(p.numel() for p in module.parameters())


def _layer_macs(module: nn.Module, inputs: Tuple[Tensor, ...], output: Tensor) -> int:
    """MACs of one call of a convolution or linear layer, for the whole batch."""
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    kernel = math.prod(module.kernel_size)
    if module.transposed:
        # every input element is scattered to out_channels / groups x kernel outputs
        return inputs[0].numel() * module.out_channels // module.groups * kernel
    return output.numel() * module.in_channels // module.groups * kernel


class PaperMacCounter:
    """Count paper-convention MACs of everything a model runs, with forward hooks.

    Every call of an ``nn.Conv1d/2d/3d``, ``nn.ConvTranspose*d`` or ``nn.Linear`` inside
    ``model`` (mmcv's ``ConvModule`` and wrappers included) adds its MACs; a module called several
    times (RetinaNet's head on each pyramid level) counts each time. Counts cover the whole batch.

    Args:
        model (nn.Module): The model whose layers are hooked.

    Example:
        >>> import torch
        >>> conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        >>> with PaperMacCounter(conv) as counter:
        ...     _ = conv(torch.rand(1, 3, 10, 10))
        >>> counter.total
        21600
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.total = 0
        self.by_module: Dict[str, int] = {}
        self._handles: List[Any] = []

    def _hook(self, name: str) -> Callable:

        def hook(module: nn.Module, inputs: Tuple[Tensor, ...], output: Tensor) -> None:
            macs = _layer_macs(module, inputs, output)
            self.total += macs
            self.by_module[name] = self.by_module.get(name, 0) + macs

        return hook

    def __enter__(self) -> 'PaperMacCounter':
        for name, module in self.model.named_modules():
            if isinstance(module, (_ConvNd, nn.Linear)):
                self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def as_args(inputs: Inputs) -> Tuple[Any, ...]:
    """Positional arguments from a tensor or a sequence of arguments."""
    return (inputs, ) if isinstance(inputs, Tensor) else tuple(inputs)


def count_paper_macs(model: nn.Module, inputs: Inputs) -> Tuple[int, int]:
    """MACs (paper convention) of ``model(*inputs)`` in eval mode, and ``model``'s parameters.

    Args:
        model (nn.Module): The model. It is run once in eval mode without gradients; its
            training flags are restored afterwards.
        inputs (Tensor or Sequence): The input tensor, or the positional arguments of
            ``model.forward``. MACs are for the whole batch: use batch size 1 for per-image
            numbers.

    Returns:
        tuple[int, int]: ``(macs, params)``.

    Example:
        >>> import torch
        >>> count_paper_macs(torch.nn.Linear(10, 4), torch.rand(1, 10))
        (40, 44)
    """
    with eval_no_grad(model), PaperMacCounter(model) as counter:
        model(*as_args(inputs))
    return counter.total, count_params(model)


def count_mmengine_flops(model: nn.Module, inputs: Inputs) -> int:
    """Total of mmengine's :class:`~mmengine.analysis.FlopAnalyzer` for ``model(*inputs)``.

    The model is traced with ``torch.jit.trace`` in eval mode; unsupported-op and
    uncalled-module warnings (and tracer warnings) are silenced.

    Args:
        model (nn.Module): The model; its forward must take and return tensors (or tuples and
            lists of them).
        inputs (Tensor or Sequence): The input tensor or positional arguments.

    Returns:
        int: mmengine's "flops" (one fused multiply-add counts one).
    """
    from mmengine.analysis import FlopAnalyzer
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')  # FlopAnalyzer logs each unsupported op (RoIAlign, ...) as a warning
    try:
        with eval_no_grad(model), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            analyzer = FlopAnalyzer(model, as_args(inputs))
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            return int(analyzer.total())
    finally:
        logger.setLevel(level)


@dataclass
class ComponentComplexity:
    """Complexity of one detector component (or of the whole detector).

    Attributes:
        name (str): ``'backbone'``, ``'neck'``, ``'rpn_head'``, ``'bbox_head'``, ``'roi_head'``
            or ``'total'``.
        input (str): What the component was run on, e.g. ``'1x3x800x1344'``.
        params (int): Parameters.
        macs (int): MACs in the paper's convention.
        mmengine_flops (int, optional): mmengine FlopAnalyzer total; None when not computed.
    """
    name: str
    input: str
    params: int
    macs: int
    mmengine_flops: Optional[int] = None


class _Backbone(nn.Module):

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        return tuple(self.backbone(img))


class _Neck(nn.Module):

    def __init__(self, neck: nn.Module) -> None:
        super().__init__()
        self.neck = neck

    def forward(self, *feats: Tensor) -> Tuple[Tensor, ...]:
        return tuple(self.neck(feats))


class _DenseHead(nn.Module):

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, *feats: Tensor) -> Tuple[Tensor, ...]:
        return flatten_tensors(self.head(feats))


class _RoIHead(nn.Module):
    """The box branch of a ``StandardRoIHead`` on given RoIs, as ``_bbox_forward`` runs it."""

    def __init__(self, roi_head: nn.Module) -> None:
        super().__init__()
        if not isinstance(getattr(roi_head, 'bbox_roi_extractor', None), nn.Module) or \
                isinstance(roi_head.bbox_roi_extractor, nn.ModuleList):
            raise NotImplementedError(
                'only RoI heads with one box RoI extractor (StandardRoIHead) are supported, '
                f'not multi-stage ones such as {type(roi_head).__name__}')
        self.roi_head = roi_head

    def forward(self, rois: Tensor, *feats: Tensor) -> Tuple[Tensor, ...]:
        head = self.roi_head
        extractor = head.bbox_roi_extractor
        bbox_feats = extractor(feats[:extractor.num_inputs], rois)
        if getattr(head, 'with_shared_head', False):
            bbox_feats = head.shared_head(bbox_feats)
        return flatten_tensors(head.bbox_head(bbox_feats))


def _shape_str(tensors: Sequence[Tensor]) -> str:
    """``1x3x800x1344`` for one tensor, ``40/112/960 ch, 100x168..25x42`` for feature maps."""
    if len(tensors) == 1:
        return 'x'.join(str(s) for s in tensors[0].shape)
    channels = '/'.join(str(t.shape[1]) for t in tensors)
    sizes = ['x'.join(str(s) for s in t.shape[2:]) for t in (tensors[0], tensors[-1])]
    return f'{channels} ch, {sizes[0]}..{sizes[1]}'


def detector_complexity(model: nn.Module,
                        shape: Sequence[int] = (800, 1333),
                        num_proposals: int = 1000,
                        with_mmengine: bool = True,
                        pad: bool = True) -> List[ComponentComplexity]:
    """Parameters and MACs of an mmdet detector, per component, on a synthetic image.

    Components: ``backbone`` (on the image), ``neck`` (on the backbone's features), the dense
    head (``rpn_head`` of two-stage detectors or ``bbox_head`` of one-stage ones, on the neck's
    features; raw outputs, no decoding or NMS) and ``roi_head`` (the box branch of a
    ``StandardRoIHead``: RoI extractor + ``bbox_head`` on ``num_proposals`` synthetic RoIs; a
    mask branch is not counted). The ``total`` row has all the model's parameters and the sum
    of the components' MACs.
    Post-processing (anchor decoding, NMS) is not counted by either convention.

    Args:
        model (nn.Module): An mmdet detector (e.g. built by
            :func:`ghostdet.apis.build_detector`). Run in eval mode; training flags are
            restored.
        shape (Sequence[int]): Input ``(H, W)``. Defaults to (800, 1333).
        num_proposals (int): RoIs fed to a two-stage detector's RoI head. Defaults to 1000
            (``rpn.max_per_img`` of mmdet's Faster R-CNN test config).
        with_mmengine (bool): Also trace each component with mmengine's FlopAnalyzer.
            Defaults to True.
        pad (bool): Pad ``shape`` up to the data preprocessor's ``pad_size_divisor``, as mmdet's
            pipeline does (1333 -> 1344 with the usual 32). Defaults to True.

    Returns:
        list[ComponentComplexity]: One entry per component, then ``total``.
    """
    if len(shape) != 2 or any(int(s) < 1 for s in shape):
        raise ValueError(f'shape must be (H, W) with positive sizes, but got {shape!r}')
    if num_proposals < 1:
        raise ValueError(f'num_proposals must be positive, but got {num_proposals!r}')
    if pad:
        shape = padded_shape(shape, getattr(model.data_preprocessor, 'pad_size_divisor', 1))
    height, width = (int(s) for s in shape)
    img = torch.rand(1, 3, height, width, device=next(model.parameters()).device)
    rows: List[ComponentComplexity] = []

    def add(name: str, module: nn.Module, counted: nn.Module, args: Tuple[Tensor, ...],
            described: str) -> Tuple[Tensor, ...]:
        with eval_no_grad(counted), PaperMacCounter(counted) as counter:
            outputs = counted(*args)
        flops = count_mmengine_flops(counted, args) if with_mmengine else None
        rows.append(
            ComponentComplexity(name, described, count_params(module),
                                counter.total, flops))
        return outputs

    feats = add('backbone', model.backbone, _Backbone(model.backbone), (img, ),
                _shape_str([img]))
    if getattr(model, 'with_neck', False):
        feats = add('neck', model.neck, _Neck(model.neck), feats, _shape_str(feats))
    for name in ('rpn_head', 'bbox_head'):
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            add(name, head, _DenseHead(head), feats, _shape_str(feats))
    roi_head = getattr(model, 'roi_head', None)
    if isinstance(roi_head, nn.Module):
        rois = synthetic_rois(num_proposals, height, width).to(img.device)
        add('roi_head', roi_head, _RoIHead(roi_head), (rois, ) + tuple(feats),
            f'{num_proposals} RoIs')
    flops = [r.mmengine_flops for r in rows]
    rows.append(
        ComponentComplexity('total', f'1x3x{height}x{width}', count_params(model),
                            sum(r.macs for r in rows),
                            None if None in flops else sum(flops)))  # type: ignore
    return rows


def format_complexity_table(rows: Sequence[ComponentComplexity]) -> str:
    """A markdown table of :func:`detector_complexity`'s rows.

    Params in M and MACs/flops in G, with 3 decimals.

    Args:
        rows (Sequence[ComponentComplexity]): The rows.

    Returns:
        str: The table.
    """
    lines = [
        '| component | input | params (M) | MACs, paper convention (G) '
        '| mmengine FlopAnalyzer (G) |', '|---|---|---:|---:|---:|'
    ]
    for row in rows:
        flops = '-' if row.mmengine_flops is None else f'{row.mmengine_flops / 1e9:.3f}'
        name = f'**{row.name}**' if row.name == 'total' else row.name
        lines.append(f'| {name} | {row.input} | {row.params / 1e6:.3f} '
                     f'| {row.macs / 1e9:.3f} | {flops} |')
    return '\n'.join(lines)
