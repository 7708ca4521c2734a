"""Inference options that make a detector fast on a GPU, each checked against the fp32 eager
outputs before the model is used.

At batch 1 a light detector on a large GPU is limited by the host launching its kernels, not by
arithmetic (docs/benchmarks.md: on an H200 every GhostNet width takes the same time), and
GhostNet launches more of them than MobileNetV3 (its Ghost modules add a depthwise convolution,
a concatenation and a slice to every 1x1 convolution).
The options, applied in this order:

* ``fuse_bn``: each BatchNorm folded into the convolution before it (:func:`fuse_conv_bn`):
  one kernel and one pass over the feature map fewer per BatchNorm.
* ``channels_last``: weights and input in NHWC memory layout, which cuDNN's fp16 tensor-core
  convolutions read without transposing.
* ``fp16``: the backbone, neck and heads hold fp16 weights (``.half()``) and compute in
  fp16; the input is cast on its way into the backbone and every head's outputs are cast back
  to fp32, so box decoding, NMS and the losses run in fp32 as before. The data preprocessor
  stays fp32. Unlike autocast it casts no weight at run time.
* ``cuda_graph``: the network (backbone, neck and the dense head: everything before box
  decoding) recorded once per input shape as a CUDA graph and replayed: one launch instead of
  hundreds. A new shape is recorded on first sight (up to ``max_graphs`` shapes, then eager),
  so it pays where shapes repeat: a fixed test size, a video, a benchmark. Decoding, NMS and a
  two-stage detector's RoI head (whose input size depends on the proposals) stay eager.

``fp16`` and ``cuda_graph`` need CUDA; ``fuse_bn`` and ``channels_last`` also run on CPU.
"""
import copy
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .fuse import DetectorNetwork, flatten_tensors, fuse_conv_bn, relative_difference
from .structure import eval_no_grad

# the options in the order they are applied (and checked): BatchNorm is folded in fp32 and
# in the default memory layout, before the weights change layout and precision; the graph
# records the network as the other options leave it
OPTION_ORDER = ('fuse_bn', 'channels_last', 'fp16', 'cuda_graph')
CUDA_ONLY = ('fp16', 'cuda_graph')

# Largest accepted difference from the fp32 eager outputs once an option is applied: each
# output's largest absolute difference over its largest magnitude. The fp32 options change only
# the order of float32 rounding (1e-7 to 2e-6 of the outputs' magnitude in the CPU checks of
# the tests); fp16 rounds every operation to an 11-bit significand (4.9e-4 relative), which adds
# up over a network; a wrong fold (BatchNorms folded into a convolution shared by several
# levels) changed RTMDet-tiny's outputs by 1.38. Each check uses the largest tolerance of the
# options applied so far.
TOLERANCES = dict(fuse_bn=1e-3, channels_last=1e-3, fp16=2e-2, cuda_graph=1e-3)
# On CUDA, cuDNN computes float32 convolutions in TF32 on Ampere and later GPUs by default
# (torch.backends.cudnn.allow_tf32), whose significand is fp16's: an option that changes the
# convolutions' algorithm or weights (channels_last, fuse_bn) then changes the rounding about as
# much as fp16 does, and the fp32 options get fp16's tolerance.
TF32_TOLERANCE = TOLERANCES['fp16']


def option_tolerance(name: str, device: Any = 'cpu') -> float:
    """The check's tolerance for option ``name`` on ``device`` (:data:`TOLERANCES`,
    :data:`TF32_TOLERANCE`)."""
    if str(device).startswith('cuda') and torch.backends.cudnn.allow_tf32:
        return max(TOLERANCES[name], TF32_TOLERANCE)
    return TOLERANCES[name]


DEFAULT_CHECK_SHAPE = (320, 320)


@dataclass(frozen=True)
class InferenceOptions:
    """Which inference options to apply (see the module's docstring).

    Args:
        fuse_bn (bool): Fold each BatchNorm into the convolution before it. Defaults to False.
        channels_last (bool): NHWC memory layout. Defaults to False.
        fp16 (bool): fp16 weights and computation in the network; CUDA only. Defaults to False.
        cuda_graph (bool): Replay the network as a CUDA graph per input shape; CUDA only.
            Defaults to False.
    """
    fuse_bn: bool = False
    channels_last: bool = False
    fp16: bool = False
    cuda_graph: bool = False

    @classmethod
    def fastest(cls) -> 'InferenceOptions':
        """Every option."""
        return cls(**{name: True for name in OPTION_ORDER})

    @property
    def enabled(self) -> Tuple[str, ...]:
        """The options set, in the order they are applied."""
        return tuple(name for name in OPTION_ORDER if getattr(self, name))

    def tolerance(self, device: Any = 'cpu') -> float:
        """The check's tolerance on ``device`` with every option set applied (0 when none
        is; :func:`option_tolerance`)."""
        return max((option_tolerance(name, device) for name in self.enabled), default=0.0)

    def __str__(self) -> str:
        return ' + '.join(self.enabled) if self.enabled else 'eager fp32'

    def check_device(self, device: Any) -> None:
        """Refuse options ``device`` cannot run: ``fp16`` and ``cuda_graph`` need CUDA.

        Raises:
            ValueError: One line naming the options and the device.
        """
        needs = [name for name in self.enabled if name in CUDA_ONLY]
        if not needs:
            return
        names = ' and '.join(needs)
        if not str(device).startswith('cuda'):
            raise ValueError(f'{names} need{"s" if len(needs) == 1 else ""} a CUDA device, '
                             f'but the model runs on {device}')
        if not torch.cuda.is_available():
            raise ValueError(f'{names} need{"s" if len(needs) == 1 else ""} CUDA, but torch '
                             f'{torch.__version__} finds no CUDA device here')


class AccelerationCheckError(ValueError):
    """An option changed the network's outputs by more than its tolerance.

    Attributes:
        option (str): The option whose application failed the check.
        difference (float): The largest relative difference found.
        tolerance (float): The tolerance it exceeded.
    """

    def __init__(self, option: str, difference: float, tolerance: float, detail: str = '') -> None:
        self.option = option
        self.difference = difference
        self.tolerance = tolerance
        super().__init__(
            f'{option} changes the network\'s outputs by up to {difference:.3g} of their '
            f'magnitude against the fp32 eager model (tolerance {tolerance:g})'
            + (f': {detail}' if detail else ''))


@dataclass
class AccelerationReport:
    """What :func:`accelerate` did.

    Attributes:
        options (InferenceOptions): The options applied.
        differences (dict[str, float]): For each option, the largest relative difference from
            the fp32 eager outputs once it (and the options before it) was applied.
        folded (int): BatchNorm layers folded.
    """
    options: InferenceOptions
    differences: Dict[str, float] = field(default_factory=dict)
    folded: int = 0

    def summary(self) -> str:
        """One line: the options, and each one's checked difference."""
        if not self.options.enabled:
            return 'inference options: none (eager fp32)'
        checks = ', '.join(f'{name} {diff:.2g}' for name, diff in self.differences.items())
        folded = f'; {self.folded} BatchNorm layers folded' if self.options.fuse_bn else ''
        return (f'inference options: {self.options}{folded}; largest difference from the fp32 '
                f'eager outputs after each: {checks or "not checked"}')


def is_detector(model: nn.Module) -> bool:
    """Whether ``model`` is an mmdet detector (it has ``extract_feat``)."""
    return hasattr(model, 'extract_feat') and hasattr(model, 'backbone')


def dense_head(model: nn.Module) -> Optional[nn.Module]:
    """The head run on the neck's maps: the RPN of a two-stage detector, else ``bbox_head``."""
    if getattr(model, 'with_rpn', False):
        return model.rpn_head
    return getattr(model, 'bbox_head', None)


def output_heads(model: nn.Module) -> List[nn.Module]:
    """The modules whose outputs box decoding, NMS and the losses read: of a detector, the
    outermost modules with a ``predict_by_feat`` (dense heads, RoI box and mask heads); of
    any other module, the module itself."""
    if not is_detector(model):
        return [model]
    heads: List[nn.Module] = []
    inside = set()
    for module in model.modules():
        if id(module) in inside:
            continue
        if module is not model and hasattr(module, 'predict_by_feat'):
            heads.append(module)
            inside.update(id(m) for m in module.modules())
    return heads


def network_modules(model: nn.Module) -> List[nn.Module]:
    """The modules the options change: a detector's children except its data preprocessor
    (which normalises in fp32 as before), or the module itself."""
    if not is_detector(model):
        return [model]
    return [child for name, child in model.named_children() if name != 'data_preprocessor']


def network_outputs(model: nn.Module, img: Tensor, num_proposals: int = 100
                    ) -> Tuple[Tensor, ...]:
    """The network's outputs on ``img`` as fp32 copies: a detector's
    :class:`DetectorNetwork` outputs (backbone, neck, heads; a two-stage RoI head on
    ``num_proposals`` fixed RoIs per image), which do not depend on NMS picking the same boxes;
    any other module's outputs. Run in eval mode under ``torch.inference_mode``."""
    net = DetectorNetwork(model, num_proposals) if is_detector(model) else model
    with eval_no_grad(net), torch.inference_mode():
        outs = flatten_tensors(net(img))
    return tuple(out.float().clone() for out in outs)


def compare_outputs(expected: Sequence[Tensor], got: Sequence[Tensor], option: str,
                    tolerance: float) -> float:
    """The largest relative difference of ``got`` from ``expected``
    (:func:`~ghostdet.models.relative_difference`).

    Raises:
        AccelerationCheckError: It exceeds ``tolerance``, or an output is not finite or has
            another shape; the error names ``option``.
    """
    try:
        diff = relative_difference(expected, got)
    except ValueError as err:
        raise AccelerationCheckError(option, float('inf'), tolerance, str(err)) from err
    finite = all(bool(torch.isfinite(out).all()) for out in got)
    if not finite or not diff <= tolerance:
        raise AccelerationCheckError(option, diff if finite else float('inf'), tolerance,
                                     '' if finite else 'some outputs are not finite')
    return diff


def check_against(reference: nn.Module, model: nn.Module, inputs: Sequence[Tensor],
                  options: InferenceOptions, num_proposals: int = 100) -> float:
    """Check ``model`` (``reference`` with ``options`` applied) against ``reference`` (fp32
    eager) on each of ``inputs``, within ``options.tolerance()`` on their device; return the
    largest difference. Use it to check an accelerated model at each input shape it is timed
    on.

    Raises:
        AccelerationCheckError: Naming the options.
    """
    worst = 0.0
    for img in inputs:
        expected = network_outputs(reference, img, num_proposals)
        got = network_outputs(model, img, num_proposals)
        tolerance = options.tolerance(img.device)
        worst = max(worst, compare_outputs(expected, got, str(options), tolerance))
    return worst


def _cast_floats(value: Any, dtype: torch.dtype) -> Any:
    """``value`` with every floating tensor in it (nested tuples, lists, dicts) cast to
    ``dtype``; tensors already of that type are returned as they are (no copy)."""
    if isinstance(value, Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, tuple) and hasattr(value, '_fields'):  # a named tuple
        return type(value)(*(_cast_floats(v, dtype) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_cast_floats(v, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast_floats(v, dtype) for k, v in value.items()}
    return value


class InputCast:
    """A forward pre-hook of the network's first module (a detector's backbone) that casts
    the input image to the network's precision and memory layout.

    Args:
        dtype (torch.dtype, optional): The precision; None keeps the input's. Defaults to None.
        memory_format (torch.memory_format, optional): None keeps the input's. Defaults to
            None.
    """

    def __init__(self, dtype: Optional[torch.dtype] = None,
                 memory_format: Optional[torch.memory_format] = None) -> None:
        self.dtype = dtype
        self.memory_format = memory_format

    def __call__(self, module: nn.Module, args: Tuple[Any, ...]) -> Optional[Tuple[Any, ...]]:
        if not args or not isinstance(args[0], Tensor) or not args[0].is_floating_point():
            return None
        img = args[0]
        layout = self.memory_format if img.dim() == 4 else None
        if self.dtype is not None or layout is not None:  # one copy at most
            img = img.to(dtype=self.dtype or img.dtype,
                         memory_format=layout or torch.preserve_format)
        return (img, ) + tuple(args[1:])


def input_cast(model: nn.Module) -> InputCast:
    """The :class:`InputCast` of ``model``'s network (registered on first use)."""
    entry = model.backbone if is_detector(model) else model
    cast = getattr(entry, '_ghostdet_input_cast', None)
    if cast is None:
        cast = InputCast()
        entry.register_forward_pre_hook(cast)
        entry._ghostdet_input_cast = cast
    return cast


def _outputs_to_float(module: nn.Module, args: Any, output: Any) -> Any:
    return _cast_floats(output, torch.float32)


def fold_batchnorm(model: nn.Module, img: Tensor) -> int:
    """The ``fuse_bn`` option: fold each BatchNorm of ``model`` into the convolution before
    it, in place (:func:`~ghostdet.models.fuse_conv_bn`, which checks the fold on a copy with
    random BatchNorm statistics). Returns the number folded."""
    _, folded, _ = fuse_conv_bn(model, img, inplace=True)
    return folded


def to_channels_last(model: nn.Module) -> None:
    """The ``channels_last`` option: the network's 4-d weights and its input in NHWC layout,
    in place."""
    for module in network_modules(model):
        module.to(memory_format=torch.channels_last)
    input_cast(model).memory_format = torch.channels_last


def to_half(model: nn.Module, dtype: torch.dtype = torch.float16) -> None:
    """The ``fp16`` option: the network's weights in ``dtype`` (``.half()``), its input cast
    to ``dtype`` and every output head's outputs (:func:`output_heads`) cast back to fp32, in
    place, so decoding, NMS and losses read fp32 as before.

    Args:
        model (nn.Module): A detector or any module.
        dtype (torch.dtype): Defaults to ``torch.float16``.
    """
    for module in network_modules(model):
        module.to(dtype)
    input_cast(model).dtype = dtype
    for head in output_heads(model):
        if not getattr(head, '_ghostdet_outputs_to_float', False):
            head.register_forward_hook(_outputs_to_float)
            head._ghostdet_outputs_to_float = True


class _Graph:
    """One recorded network: its static input, graph and outputs."""

    def __init__(self, graph: 'torch.cuda.CUDAGraph', static_input: Tensor, outputs: Any,
                 feats: Any = None) -> None:
        self.graph = graph
        self.input = static_input
        self.outputs = outputs
        self.feats = feats


class NetworkGraphs:
    """The ``cuda_graph`` option: a module's network recorded as a CUDA graph per input shape
    and replayed.

    For a detector, ``extract_feat`` and the dense head's ``forward`` (:func:`dense_head`) are
    replaced: ``extract_feat(img)`` copies ``img`` into the graph's static input, replays the
    graph of backbone, neck and dense head, and returns the recorded maps; the dense head
    called on exactly those maps returns the recorded head outputs, on anything else it runs
    eagerly. For any other module its ``forward`` is replaced. The returned tensors are the
    graph's static outputs: the next replay overwrites them, so read them before the next
    call (the test loop, the demo and the timing do).

    A graph is used only without autograd, in eval mode, on CUDA; anything else runs eagerly,
    as does a new shape once ``max_graphs`` shapes are recorded. Graphs are keyed by the
    input's shape, dtype, device, strides and whether ``torch.inference_mode`` is on.

    Args:
        model (nn.Module): A detector (on CUDA) or any module.
        max_graphs (int): Input shapes to record at most. Defaults to 8.
        warmup (int): Eager runs on a side stream before recording (cuDNN and cuBLAS set
            themselves up outside the graph). Defaults to 2.
    """

    def __init__(self, model: nn.Module, max_graphs: int = 8, warmup: int = 2) -> None:
        if max_graphs < 1 or warmup < 1:
            raise ValueError(f'max_graphs and warmup must be positive, but got {max_graphs}, '
                             f'{warmup}')
        self.model = model
        self.max_graphs = max_graphs
        self.warmup = warmup
        self.graphs: 'OrderedDict[tuple, _Graph]' = OrderedDict()
        self.last: Optional[_Graph] = None
        self.recording = False
        self.warned = False
        if is_detector(model):
            self.head = dense_head(model)
            self.eager_extract = model.extract_feat
            self.eager_head = self.head.forward if self.head is not None else None
            model.extract_feat = self.extract_feat
            if self.head is not None:
                self.head.forward = self.head_forward
        else:
            self.head = None
            self.eager_forward = model.forward
            model.forward = self.forward
        model._ghostdet_graphs = self

    def remove(self) -> None:
        """Put the eager methods back and drop the graphs."""
        if is_detector(self.model):
            del self.model.extract_feat
            if self.head is not None:
                del self.head.forward
        else:
            del self.model.forward
        del self.model._ghostdet_graphs
        self.graphs.clear()
        self.last = None

    def _usable(self, img: Any) -> bool:
        return (isinstance(img, Tensor) and img.is_cuda and not torch.is_grad_enabled()
                and not self.model.training and not self.recording)

    def _key(self, img: Tensor) -> tuple:
        return (tuple(img.shape), img.dtype, img.device, img.stride(),
                torch.is_inference_mode_enabled())

    def _region(self, img: Tensor) -> Tuple[Any, Any]:
        """What the graph records: (maps, head outputs) of a detector, (None, outputs) of a
        module."""
        if self.head is None and is_detector(self.model):
            return None, self.eager_extract(img)
        if is_detector(self.model):
            feats = self.eager_extract(img)
            self.recording = True  # the head's forward runs eagerly, its hooks too
            try:
                return feats, self.head(feats)
            finally:
                self.recording = False
        return None, self.eager_forward(img)

    def _record(self, img: Tensor) -> _Graph:
        static_input = img.clone()
        stream = torch.cuda.Stream(device=img.device)
        stream.wait_stream(torch.cuda.current_stream(img.device))
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):
                self._region(static_input)
        torch.cuda.current_stream(img.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, capture_error_mode='thread_local'):
                feats, outputs = self._region(static_input)
        except RuntimeError as err:
            raise RuntimeError(
                f'cuda_graph: recording the network for input {tuple(img.shape)} failed (an '
                f'operation in it synchronises with the host or allocates on the CPU?): '
                f'{err}') from err
        entry = _Graph(graph, static_input, outputs, feats)
        self.graphs[self._key(img)] = entry
        return entry

    def _replay(self, img: Tensor) -> Optional[_Graph]:
        if not self._usable(img):
            return None
        entry = self.graphs.get(self._key(img))
        if entry is None:
            if len(self.graphs) >= self.max_graphs:
                if not self.warned:
                    warnings.warn(f'cuda_graph: {self.max_graphs} input shapes are recorded '
                                  f'already; {tuple(img.shape)} and any further new shape run '
                                  'eagerly (give the test pipeline a fixed size to use the '
                                  'graphs)')
                    self.warned = True
                return None
            entry = self._record(img)
        entry.input.copy_(img)
        entry.graph.replay()
        return entry

    def extract_feat(self, img: Tensor) -> Any:
        entry = self._replay(img)
        self.last = entry
        if entry is None:
            return self.eager_extract(img)
        return entry.feats if self.head is not None else entry.outputs

    def head_forward(self, *args: Any, **kwargs: Any) -> Any:
        last = self.last
        if (not self.recording and last is not None and last.feats is not None and len(args) == 1
                and not kwargs and _same_tensors(args[0], last.feats)):
            return last.outputs
        return self.eager_head(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        entry = self._replay(args[0]) if len(args) == 1 and not kwargs else None
        if entry is None:
            return self.eager_forward(*args, **kwargs)
        return entry.outputs


def _same_tensors(a: Any, b: Any) -> bool:
    """Whether ``a`` holds exactly the tensor objects of ``b`` (a tuple or list of maps)."""
    if not isinstance(a, (tuple, list)) or not isinstance(b, (tuple, list)) or len(a) != len(b):
        return False
    return all(x is y for x, y in zip(a, b))


def capture_cuda_graphs(model: nn.Module, max_graphs: int = 8) -> NetworkGraphs:
    """The ``cuda_graph`` option (:class:`NetworkGraphs`), in place; graphs are recorded on
    first use of each input shape."""
    existing = getattr(model, '_ghostdet_graphs', None)
    if existing is not None:
        return existing
    return NetworkGraphs(model, max_graphs=max_graphs)


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s first parameter (else buffer) lives; CPU for a module without."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device('cpu')


def example_inputs(model: nn.Module, shape: Sequence[int] = DEFAULT_CHECK_SHAPE,
                   batch_size: int = 1, count: int = 2) -> List[Tensor]:
    """``count`` different random batches for a detector's check, as its data preprocessor
    gives them (:func:`~ghostdet.models.synthetic_batch`, seeds 0, 1, ...)."""
    from .synthetic_inputs import synthetic_batch

    return [synthetic_batch(model, shape, batch_size, seed=seed)[0] for seed in range(count)]


STEPS: Dict[str, Callable[..., Any]] = dict(
    fuse_bn=fold_batchnorm,
    channels_last=to_channels_last,
    fp16=to_half,
    cuda_graph=capture_cuda_graphs,
)


def accelerate(model: nn.Module,
               options: InferenceOptions,
               inputs: Optional[Sequence[Tensor]] = None,
               shape: Sequence[int] = DEFAULT_CHECK_SHAPE,
               check: bool = True,
               num_proposals: int = 100,
               max_graphs: int = 8) -> AccelerationReport:
    """Apply ``options`` to ``model`` in place (in eval mode), each one checked against the
    fp32 eager outputs.

    The outputs of :func:`network_outputs` on every example input are taken before any option is
    applied; after each option (in :data:`OPTION_ORDER`) they are taken again and must differ by
    at most the largest tolerance of the options applied so far (:func:`option_tolerance`),
    relative to each output's largest magnitude. The first option that breaks this is named
    (:class:`AccelerationCheckError`) and nothing after it is applied. With ``cuda_graph`` the
    check's second input catches a graph that does not read its input anew.

    Args:
        model (nn.Module): An mmdet detector, or any module taking one image batch.
        options (InferenceOptions): What to apply.
        inputs (Sequence[Tensor], optional): Example batches on the model's device, as the
            network gets them (normalised, padded); use the shape and batch size the model
            will run at where known. None: two random batches of ``shape`` (detectors only).
            Defaults to None.
        shape (Sequence[int]): ``(H, W)`` of those random batches. Defaults to (320, 320).
        check (bool): Compare the outputs after each option. Defaults to True.
        num_proposals (int): RoIs per image for a two-stage detector's check. Defaults to 100.
        max_graphs (int): See :class:`NetworkGraphs`. Defaults to 8.

    Returns:
        AccelerationReport: The options and each one's checked difference.

    Raises:
        ValueError: An option the model's device cannot run (see
            :meth:`InferenceOptions.check_device`).
        AccelerationCheckError: An option changed the outputs beyond its tolerance.
    """
    options.check_device(model_device(model))
    report = AccelerationReport(options)
    if not options.enabled:
        return report
    model.eval()
    if inputs is None:
        if not is_detector(model):
            raise ValueError('accelerate needs example inputs for a module that is not a '
                             'detector')
        inputs = example_inputs(model, shape)
    inputs = list(inputs)
    expected = [network_outputs(model, img, num_proposals) for img in inputs] if check else []
    tolerance = 0.0
    for name in options.enabled:
        if name == 'fuse_bn':
            report.folded = STEPS[name](model, inputs[0])
        elif name == 'cuda_graph':
            STEPS[name](model, max_graphs=max_graphs)
        else:
            STEPS[name](model)
        if not check:
            continue
        tolerance = max(tolerance, option_tolerance(name, inputs[0].device))
        report.differences[name] = max(
            compare_outputs(want, network_outputs(model, img, num_proposals), name, tolerance)
            for want, img in zip(expected, inputs))
    return report


def accelerated_copy(model: nn.Module, options: InferenceOptions,
                     **kwargs: Any) -> Tuple[nn.Module, AccelerationReport]:
    """:func:`accelerate` on a deep copy of ``model``, which is left as it is."""
    fast = copy.deepcopy(model)
    return fast, accelerate(fast, options, **kwargs)
