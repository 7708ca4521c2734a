"""Latency measurement: warm-up, timed runs, median and spread, on CPU or CUDA.

Each run is timed with ``time.perf_counter``; on CUDA the device is synchronised before the
clock starts and before it stops, so a run's time is its whole GPU work. Results are per batch;
:class:`LatencyResult` gives per-image numbers as well.
"""
import statistics
import sys
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .complexity import Inputs, as_args, eval_no_grad


@contextmanager
def num_threads(threads: Optional[int]) -> Iterator[int]:
    """Set ``torch.set_num_threads`` for the block and restore it afterwards.

    Args:
        threads (int, optional): Threads for intra-op parallelism; None keeps the current
            setting.

    Yields:
        int: The number of threads in effect.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f'threads must be positive, but got {threads!r}')
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0..100) of sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


@dataclass
class LatencyResult:
    """Timings of one benchmark.

    Attributes:
        name (str): What was timed.
        device (str): ``'cpu'`` or ``'cuda'`` (with the device name when known).
        batch_size (int): Images per run.
        threads (int): ``torch.get_num_threads()`` during the runs.
        amp (bool): Whether CUDA autocast (fp16) was on.
        warmup (int): Untimed runs before the timed ones.
        times_ms (list[float]): Time of each timed run (one batch), in ms.
        precision (str): What the model computes in when not what ``amp`` says (e.g. ``'int8'``
            for a quantized ONNX file). Defaults to ``''``: ``'AMP fp16'`` or ``'fp32'``.
    """
    name: str
    device: str
    batch_size: int
    threads: int
    amp: bool
    warmup: int
    times_ms: List[float] = field(default_factory=list)
    precision: str = ''

    @property
    def precision_name(self) -> str:
        return self.precision or ('AMP fp16' if self.amp else 'fp32')

    @property
    def runs(self) -> int:
        return len(self.times_ms)

    def percentile(self, q: float) -> float:
        """Percentile ``q`` (0..100) of the per-batch time, in ms."""
        return _percentile(sorted(self.times_ms), q)

    @property
    def median_ms(self) -> float:
        """Median time of one batch, in ms."""
        return statistics.median(self.times_ms)

    @property
    def p10_ms(self) -> float:
        return self.percentile(10)

    @property
    def p90_ms(self) -> float:
        return self.percentile(90)

    @property
    def ms_per_image(self) -> float:
        """Median batch time divided by the batch size."""
        return self.median_ms / self.batch_size

    @property
    def images_per_s(self) -> float:
        """Throughput at the median batch time."""
        return 1000.0 * self.batch_size / self.median_ms

    def summary(self) -> str:
        """One line: median and p10-p90 per image, throughput and the settings."""
        precision = self.precision_name
        return (f'{self.name}: {self.ms_per_image:.2f} ms/image median '
                f'(p10 {self.p10_ms / self.batch_size:.2f}, '
                f'p90 {self.p90_ms / self.batch_size:.2f}), {self.images_per_s:.1f} images/s; '
                f'{self.device}, {precision}, batch {self.batch_size}, threads {self.threads}, '
                f'{self.warmup} warm-up + {self.runs} runs')


def _log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_interleaved(fns: Sequence[Tuple[str, Callable[[], Any]]],
                        runs: int = 50,
                        warmup: int = 10,
                        device: str = 'cpu',
                        batch_size: int = 1,
                        amp: bool = False,
                        progress: Optional[Callable[[str], None]] = _log_stderr,
                        progress_every_s: float = 5.0,
                        precisions: Optional[Sequence[str]] = None) -> List[LatencyResult]:
    """Time several functions side by side: in rounds, each function once per round
    (``warmup`` untimed rounds, then ``runs`` timed ones), so that a drift of the machine during
    the measurement (clock speed, other load) reaches them all alike and their ratios stay
    fair. One function is :func:`measure_latency`.

    Args:
        fns (Sequence[tuple[str, Callable[[], Any]]]): ``(name, one run)`` pairs; each run (one
            batch) should already be in the wanted no-grad/autocast state (see
            :func:`module_runner`).
        runs (int): Timed rounds. Defaults to 50.
        warmup (int): Untimed rounds first (allocator, caches, cuDNN autotuning). Defaults to 10.
        device (str): ``'cpu'`` or ``'cuda'`` (``'cuda:N'``); on CUDA each run is synchronised.
            Defaults to ``'cpu'``.
        batch_size (int): Images per run, for per-image numbers. Defaults to 1.
        amp (bool): Recorded in the results only (``module_runner`` applies it). Defaults to
            False.
        progress (Callable[[str], None], optional): Receives a progress line at most every
            ``progress_every_s`` seconds and each result's summary at the end; None for
            silence. Defaults to printing to stderr.
        progress_every_s (float): Defaults to 5.0.
        precisions (Sequence[str], optional): Each function's
            :attr:`LatencyResult.precision` (e.g. ``'int8'``), for the results only.
            Defaults to None (what ``amp`` says, for all).

    Returns:
        list[LatencyResult]: One per function, in order.
    """
    if not fns:
        raise ValueError('nothing to time: fns is empty')
    if runs < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(f'need runs >= 1, warmup >= 0 and batch_size >= 1, but got '
                         f'runs={runs}, warmup={warmup}, batch_size={batch_size}')
    is_cuda = str(device).startswith('cuda')
    if is_cuda and not torch.cuda.is_available():
        raise RuntimeError('device is CUDA but torch.cuda.is_available() is False')
    sync = torch.cuda.synchronize if is_cuda else (lambda: None)
    device_name = f'cuda ({torch.cuda.get_device_name()})' if is_cuda else 'cpu'
    precisions = list(precisions or [''] * len(fns))
    if len(precisions) != len(fns):
        raise ValueError(f'{len(precisions)} precisions for {len(fns)} functions')
    results = [LatencyResult(name, device_name, batch_size, torch.get_num_threads(), amp, warmup,
                             precision=precision) for (name, _), precision in zip(fns, precisions)]
    last_report = time.perf_counter()
    for i in range(warmup + runs):
        for (name, fn), result in zip(fns, results):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            end = time.perf_counter()
            if i >= warmup:
                result.times_ms.append((end - start) * 1000)
            if progress is not None and end - last_report >= progress_every_s:
                last_report = end
                done = (f'warm-up {i + 1}/{warmup}' if i < warmup else
                        f'run {i + 1 - warmup}/{runs}')
                median = f', median so far {result.median_ms:.1f} ms' if result.times_ms else ''
                progress(f'  [{name}] {done}{median}')
    if progress is not None:
        for result in results:
            progress(f'  {result.summary()}')
    return results


def measure_latency(fn: Callable[[], Any], name: str = 'model', **kwargs: Any) -> LatencyResult:
    """Time ``fn()`` (one run, one batch): ``warmup`` untimed calls, then ``runs`` timed ones.
    :func:`measure_interleaved` of one function; ``kwargs`` are its ``runs``, ``warmup``,
    ``device``, ``batch_size``, ``amp``, ``progress`` and ``progress_every_s``."""
    return measure_interleaved([(name, fn)], **kwargs)[0]


def _check_amp_device(device: str) -> None:
    if not str(device).startswith('cuda'):
        raise ValueError('amp (fp16 autocast) is only supported on CUDA devices')


def amp_context(device: str, amp: bool) -> ContextManager:
    """CUDA fp16 autocast when ``amp``, else nothing. Enter it once around all the runs of a
    measurement (as :func:`benchmark_modules` does), not once per run: autocast keeps the fp16
    copy of each weight it casts until its outermost context exits, so a context per run casts
    every weight again on every forward and times those casts too.

    Raises:
        ValueError: ``amp`` on a device that is not CUDA.
    """
    if not amp:
        return nullcontext()
    _check_amp_device(device)
    return torch.autocast('cuda', dtype=torch.float16)


def module_runner(model: nn.Module,
                  inputs: Inputs,
                  amp: bool = False,
                  device: str = 'cpu',
                  **kwargs: Any) -> Callable[[], Any]:
    """A no-argument function running ``model(*inputs, **kwargs)`` for inference.

    The model is put in eval mode (call the returned function inside the same process; the
    training flags are not restored). Each call runs under ``torch.inference_mode``, or, with
    ``amp``, under ``torch.no_grad``: autocast reuses its fp16 weight copies only outside
    inference mode (seen with torch 2.13's CPU autocast: within one context, 5 calls of a
    ``Linear`` cast its weight 5 times under ``inference_mode`` and once under ``no_grad``).

    Args:
        model (nn.Module): The model.
        inputs (Tensor or Sequence): Input tensor or positional arguments.
        amp (bool): The calls run inside :func:`amp_context` (entered by the caller, once for
            all of them); CUDA only. Defaults to False.
        device (str): Where ``model`` and ``inputs`` are. Defaults to ``'cpu'``.
        **kwargs: Keyword arguments of the call, e.g. ``mode='tensor'``.

    Returns:
        Callable[[], Any]: The runner.
    """
    if amp:
        _check_amp_device(device)
    model.eval()
    args = as_args(inputs)
    no_autograd = torch.no_grad if amp else torch.inference_mode

    def run() -> Any:
        with no_autograd():
            return model(*args, **kwargs)

    return run


def benchmark_modules(models: Sequence[Tuple[str, nn.Module]],
                      inputs: Inputs,
                      runs: int = 50,
                      warmup: int = 10,
                      device: str = 'cpu',
                      amp: bool = False,
                      threads: Optional[int] = None,
                      progress: Optional[Callable[[str], None]] = _log_stderr,
                      batch_size: Optional[int] = None,
                      precisions: Optional[Sequence[str]] = None,
                      **kwargs: Any) -> List[LatencyResult]:
    """Latency of ``model(*inputs, **kwargs)`` for each ``(name, model)``, on the same inputs,
    timed side by side (:func:`module_runner` + :func:`measure_interleaved`).

    Args:
        models (Sequence[tuple[str, nn.Module]]): ``(name, model)`` pairs, each model already
            on ``device``.
        inputs (Tensor or Sequence): Input tensor or positional arguments; the batch size is
            the first dimension of the first tensor (of the first argument, nested or not).
        runs (int): Timed runs. Defaults to 50.
        warmup (int): Untimed runs. Defaults to 10.
        device (str): Defaults to ``'cpu'``.
        amp (bool): CUDA fp16 autocast, entered once around all the runs
            (:func:`amp_context`). Defaults to False.
        threads (int, optional): ``torch.set_num_threads`` during the runs; None keeps the
            current setting. Defaults to None.
        progress (Callable[[str], None], optional): See :func:`measure_interleaved`.
        batch_size (int, optional): Images per call, for models that take a list of
            ``(C, H, W)`` images (torchvision detectors); None reads it from the inputs as
            above. Defaults to None.
        precisions (Sequence[str], optional): See :func:`measure_interleaved`.
        **kwargs: Keyword arguments of the call.

    Returns:
        list[LatencyResult]: One per model, in order.
    """
    args = as_args(inputs)
    if batch_size is None:
        first = args[0] if args else None
        while isinstance(first, (tuple, list)) and first:
            first = first[0]
        batch_size = int(first.shape[0]) if isinstance(first, torch.Tensor) else 1
    with num_threads(threads), ExitStack() as stack:
        runners = []
        for name, model in models:
            stack.enter_context(eval_no_grad(model))
            runners.append((name, module_runner(model, args, amp=amp, device=device, **kwargs)))
        stack.enter_context(amp_context(device, amp))
        return measure_interleaved(
            runners,
            runs=runs,
            warmup=warmup,
            device=device,
            batch_size=batch_size,
            amp=amp,
            progress=progress,
            precisions=precisions)


def benchmark_module(model: nn.Module, inputs: Inputs, name: str = 'model',
                     **kwargs: Any) -> LatencyResult:
    """Latency of ``model(*inputs)``: :func:`benchmark_modules` of one model; ``kwargs`` are
    its timing options and the call's keyword arguments."""
    return benchmark_modules([(name, model)], inputs, **kwargs)[0]


def benchmark_train_step(model: nn.Module,
                         data: dict,
                         optim_wrapper: Any,
                         runs: int = 20,
                         warmup: int = 5,
                         device: str = 'cpu',
                         name: str = 'train step',
                         progress: Optional[Callable[[str], None]] = _log_stderr) -> LatencyResult:
    """Time whole training iterations: ``model.train_step(data, optim_wrapper)``.

    One iteration is what mmengine's train loop runs after the dataloader: the data
    preprocessor (normalise, pad, move to ``device``), the losses, the backward pass and the
    optimizer step (under autocast and loss scaling with an ``AmpOptimWrapper``). Image loading
    and augmentation are not included. The model is left in train mode, its weights changed.

    Args:
        model (nn.Module): An mmengine ``BaseModel`` (e.g. an mmdet detector) on ``device``.
        data (dict): One batch, e.g. from :func:`ghostdet.models.synthetic_train_batch`.
        optim_wrapper: An mmengine ``OptimWrapper`` of ``model``'s parameters.
        runs (int): Timed iterations. Defaults to 20.
        warmup (int): Untimed iterations first. Defaults to 5.
        device (str): Where the model is. Defaults to ``'cpu'``.
        name (str): Label. Defaults to ``'train step'``.
        progress (Callable[[str], None], optional): See :func:`measure_latency`.

    Returns:
        LatencyResult: Per-iteration timings; ``images_per_s`` is the training throughput.
    """
    from mmengine.optim import AmpOptimWrapper

    model.train()
    amp = isinstance(optim_wrapper, AmpOptimWrapper)
    return measure_latency(
        lambda: model.train_step(data, optim_wrapper),
        runs=runs,
        warmup=warmup,
        device=device,
        batch_size=len(data['inputs']),
        amp=amp,
        name=name,
        progress=progress)


def format_latency_table(results: Sequence[LatencyResult],
                         baseline: Optional[str] = None) -> str:
    """A markdown table of latency results.

    Args:
        results (Sequence[LatencyResult]): The results.
        baseline (str, optional): Name of the result the ``ratio`` column divides by (e.g.
            ``'MobileNetV3-Large'``); None leaves the column out. Defaults to None.

    Returns:
        str: The table.
    """
    base = next((r for r in results if r.name == baseline), None)
    head = '| model | device | precision | batch | threads | ms/image median | p10-p90 (ms) '
    head += '| images/s | runs |'
    if base is not None:
        head += f' vs {baseline} |'
    lines = [head, '|---|---|---|---:|---:|---:|---:|---:|---:|' + ('---:|' if base else '')]
    for r in results:
        line = (f'| {r.name} | {r.device} | {r.precision_name} | {r.batch_size} '
                f'| {r.threads} | {r.ms_per_image:.2f} | {r.p10_ms / r.batch_size:.2f}-'
                f'{r.p90_ms / r.batch_size:.2f} | {r.images_per_s:.1f} '
                f'| {r.warmup}+{r.runs} |')
        if base is not None:
            line += f' {r.ms_per_image / base.ms_per_image:.2f}x |'
        lines.append(line)
    return '\n'.join(lines)
