"""Backbone comparison of ``tools/analysis/compare_backbones.py``: paper-convention numbers at
224x224, detector MACs, CPU/CUDA latency, markdown tables and a chart."""
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from ..analysis.backbones import (BACKBONES, PAPER_CLASSIFIERS, PAPER_DETECTION_BACKBONES,
                                  build_backbone, build_classifier)
from ..analysis.complexity import ComponentComplexity, count_paper_macs, detector_complexity
from ..analysis.figures import save_figure
from ..analysis.latency import LatencyResult, benchmark_module, benchmark_modules
from ..apis.builder import build_detector, load_config, replace_backbone
from ..models.fuse import DetectorNetwork, fuse_conv_bn
from ..models.synthetic_inputs import synthetic_batch

ALGORITHMS = ('retinanet', 'faster-rcnn')
NECKS = ('fpn', 'ghost-fpn')
# backbone -> (configs/ folder, the backbone part of the config name), for backbones with configs
CONFIG_TAGS: Dict[str, Tuple[str, str]] = {
    'GhostNet 1.0x': ('ghostnet', 'ghostnet-1.0x'),
    'GhostNet 1.1x': ('ghostnet', 'ghostnet-1.1x'),
    'MobileNetV3-Large': ('mobilenetv3', 'mobilenetv3-large'),
    'MobileNetV2 1.0x': ('mobilenetv2', 'mobilenetv2'),
}
# backbones without configs borrow the FPN config of a sibling and change the backbone
CONFIG_SIBLINGS: Dict[str, str] = {
    'GhostNet 0.5x': 'GhostNet 1.1x',
    'GhostNet 1.3x': 'GhostNet 1.1x',
    'MobileNetV3-Small': 'MobileNetV3-Large',
    'GhostNetV2 1.0x': 'GhostNet 1.0x',
    'GhostNetV3 1.0x': 'GhostNet 1.0x',
}
NECK_TYPES = {'fpn': 'FPN', 'ghost-fpn': 'GhostFPN'}
Progress = Optional[Callable[[str], None]]


def machine_description() -> str:
    """E.g. ``'2-core x86_64 CPU (Intel(R) Xeon(R) Processor), torch 2.13.0+cpu'``."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        if names:
            model = names[0]
    except OSError:
        pass
    return (f'{os.cpu_count()}-core {platform.machine()} CPU ({model}), '
            f'torch {torch.__version__}')


@dataclass
class BackboneRow:
    """Paper-convention numbers of one backbone at one input size.

    Attributes:
        name (str): A key of :data:`~ghostdet.analysis.BACKBONES`.
        classifier_params (int): Whole ImageNet classifier.
        classifier_macs (int): Whole ImageNet classifier.
        backbone_params (int): Feature extractor up to the last 1x1 conv.
        backbone_macs (int): Feature extractor up to the last 1x1 conv.
    """
    name: str
    classifier_params: int
    classifier_macs: int
    backbone_params: int
    backbone_macs: int


def backbone_rows(names: Sequence[str] = tuple(BACKBONES),
                  shape: Sequence[int] = (224, 224)) -> List[BackboneRow]:
    """Params and MACs (paper convention) of each backbone, as classifier and as backbone.

    Args:
        names (Sequence[str]): Keys of :data:`~ghostdet.analysis.BACKBONES`. Defaults to all.
        shape (Sequence[int]): Input ``(H, W)``. Defaults to (224, 224).

    Returns:
        list[BackboneRow]: One row per name.
    """
    x = torch.rand(1, 3, *shape)
    rows = []
    for name in names:
        cls_macs, cls_params = count_paper_macs(build_classifier(name), x)
        bb_macs, bb_params = count_paper_macs(build_backbone(name), x)
        rows.append(BackboneRow(name, cls_params, cls_macs, bb_params, bb_macs))
    return rows


def _diff(ours: float, paper: Optional[float]) -> str:
    return '' if paper is None else f'{100 * (ours - paper) / paper:+.1f}%'


def format_backbone_table(rows: Sequence[BackboneRow]) -> str:
    """Markdown: ours vs the papers' numbers, classifier and backbone definitions.

    The detection-table diff uses the backbone for GhostNet and the whole classifier for the
    others, the definitions that reproduce the paper (see ``docs/benchmarks.md``).

    Args:
        rows (Sequence[BackboneRow]): :func:`backbone_rows`.

    Returns:
        str: The table.
    """
    lines = [
        '| backbone | classifier params (M) | paper | diff | classifier MACs (M) | paper | diff '
        '| backbone params (M) | backbone MACs (M) | paper detection table (M) | diff |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
    ]
    for r in rows:
        paper = PAPER_CLASSIFIERS.get(r.name)
        det = PAPER_DETECTION_BACKBONES.get(r.name)
        p_params = f'{paper.params / 1e6:.1f}' if paper else '-'
        p_macs = f'{paper.macs / 1e6:.0f}' if paper else '-'
        det_str = '-'
        det_diff = ''
        if det is not None:
            det_str = f'{det / 1e6:.0f}'
            ours = r.backbone_macs if r.name.startswith('GhostNet') else r.classifier_macs
            det_diff = _diff(ours, det)
            if not r.name.startswith('GhostNet'):
                det_diff += ' (classifier)'
        lines.append(
            f'| {r.name} | {r.classifier_params / 1e6:.3f} | {p_params} '
            f'| {_diff(r.classifier_params, paper.params if paper else None)} '
            f'| {r.classifier_macs / 1e6:.1f} | {p_macs} '
            f'| {_diff(r.classifier_macs, paper.macs if paper else None)} '
            f'| {r.backbone_params / 1e6:.3f} | {r.backbone_macs / 1e6:.1f} | {det_str} '
            f'| {det_diff} |')
    return '\n'.join(lines)


def detector_config(config_dir: Path, algorithm: str, backbone: str,
                    neck: str = 'fpn') -> Tuple[Config, str]:
    """The config of ``algorithm`` + ``backbone`` + ``neck``, and where it came from.

    ``configs/{folder}/{algorithm}_{tag}_{neck}_1x_coco.py`` when it exists; else the FPN
    config of the backbone (or of a sibling backbone, for GhostNet 0.5x/1.3x, GhostNetV2/V3
    and MobileNetV3-Small) with the backbone and/or neck type changed (neck ``in_channels`` follow
    the backbone).

    Args:
        config_dir (Path): The ``configs/`` folder.
        algorithm (str): ``'retinanet'`` or ``'faster-rcnn'``.
        backbone (str): A key of :data:`~ghostdet.analysis.BACKBONES`.
        neck (str): ``'fpn'`` or ``'ghost-fpn'``. Defaults to ``'fpn'``.

    Returns:
        tuple[Config, str]: The config and a description of its provenance.
    """
    if algorithm not in ALGORITHMS or neck not in NECK_TYPES:
        raise ValueError(f'algorithm must be in {ALGORITHMS} and neck in {tuple(NECK_TYPES)}, '
                         f'got {algorithm!r}, {neck!r}')
    config_dir = Path(config_dir)
    source = CONFIG_SIBLINGS.get(backbone, backbone)
    if source not in CONFIG_TAGS:
        raise KeyError(f'no config for backbone {backbone!r}')
    folder, tag = CONFIG_TAGS[source]
    exact = config_dir / folder / f'{algorithm}_{tag}_{neck}_1x_coco.py'
    if source == backbone and exact.is_file():
        return load_config(exact), exact.relative_to(config_dir.parent).as_posix()
    base = config_dir / folder / f'{algorithm}_{tag}_fpn_1x_coco.py'
    if not base.is_file():
        raise FileNotFoundError(f'{base} is missing')
    changes = []
    new_backbone = None
    if source != backbone:
        new_backbone = {k: v for k, v in BACKBONES[backbone].items()
                        if k != 'type' or v != BACKBONES[source]['type']}
        changes.append(', '.join(f'{k}={v}' for k, v in new_backbone.items()))
        if 'type' in new_backbone:  # a drop-in (GhostNetV2/V3): the config's settings kept
            new_backbone = dict(load_config(base).model.backbone.to_dict(), **new_backbone)
    neck_type = None
    if neck != 'fpn':
        neck_type = NECK_TYPES[neck]
        changes.append(f'neck={neck_type}')
    cfg = replace_backbone(base, new_backbone, neck_type)
    return cfg, f'{base.relative_to(config_dir.parent).as_posix()} + {"; ".join(changes)}'


@dataclass
class DetectorRow:
    """Complexity of one detector.

    Attributes:
        backbone (str): Backbone name.
        algorithm (str): ``'retinanet'`` or ``'faster-rcnn'``.
        neck (str): ``'fpn'`` or ``'ghost-fpn'``.
        source (str): Config provenance.
        components (list[ComponentComplexity]): :func:`detector_complexity` rows.
    """
    backbone: str
    algorithm: str
    neck: str
    source: str
    components: List[ComponentComplexity]

    def component(self, name: str) -> ComponentComplexity:
        """The row of component ``name`` (e.g. ``'total'``)."""
        return next(c for c in self.components if c.name == name)


def detector_rows(config_dir: Path,
                  backbones: Sequence[str],
                  algorithms: Sequence[str] = ALGORITHMS,
                  necks: Sequence[str] = NECKS,
                  shape: Sequence[int] = (800, 1333),
                  num_proposals: int = 1000,
                  with_mmengine: bool = False,
                  progress: Progress = None) -> List[DetectorRow]:
    """:func:`detector_complexity` of every backbone x algorithm x neck.

    Args:
        config_dir (Path): The ``configs/`` folder.
        backbones (Sequence[str]): Backbone names.
        algorithms (Sequence[str]): Defaults to ``('retinanet', 'faster-rcnn')``.
        necks (Sequence[str]): Defaults to ``('fpn', 'ghost-fpn')``.
        shape (Sequence[int]): Input ``(H, W)`` (padded as the data preprocessor does).
            Defaults to (800, 1333).
        num_proposals (int): RoIs of two-stage RoI heads. Defaults to 1000.
        with_mmengine (bool): Add mmengine FlopAnalyzer totals. Defaults to False.
        progress (Callable[[str], None], optional): Progress lines. Defaults to None.

    Returns:
        list[DetectorRow]: One row per combination.
    """
    rows = []
    for algorithm in algorithms:
        for backbone in backbones:
            for neck in necks:
                cfg, source = detector_config(config_dir, algorithm, backbone, neck)
                if progress is not None:
                    progress(f'  MACs of {algorithm} {backbone} {neck} ({source})')
                model = build_detector(cfg)
                components = detector_complexity(
                    model, shape, num_proposals=num_proposals, with_mmengine=with_mmengine)
                rows.append(DetectorRow(backbone, algorithm, neck, source, components))
    return rows


def format_detector_table(rows: Sequence[DetectorRow]) -> str:
    """Markdown: per detector, GMACs of backbone / neck / heads / total, params and config.

    Args:
        rows (Sequence[DetectorRow]): :func:`detector_rows`; an mmengine column is added when
            every row has mmengine totals.

    Returns:
        str: The table.
    """
    with_mmengine = all(r.component('total').mmengine_flops is not None for r in rows)
    head = ('| detector | backbone | neck | backbone GMACs | neck GMACs | head(s) GMACs '
            '| total GMACs |')
    sep = '|---|---|---|---:|---:|---:|---:|'
    if with_mmengine:
        head += ' mmengine total (G) |'
        sep += '---:|'
    lines = [head + ' params (M) | config |', sep + '---:|---|']
    for r in rows:
        by_name = {c.name: c for c in r.components}
        heads = sum(c.macs for c in r.components
                    if c.name in ('rpn_head', 'bbox_head', 'roi_head'))
        total = by_name['total']
        line = (f'| {r.algorithm} | {r.backbone} | {NECK_TYPES[r.neck]} '
                f'| {by_name["backbone"].macs / 1e9:.3f} | {by_name["neck"].macs / 1e9:.3f} '
                f'| {heads / 1e9:.3f} | {total.macs / 1e9:.3f} |')
        if with_mmengine:
            line += f' {total.mmengine_flops / 1e9:.3f} |'
        lines.append(line + f' {total.params / 1e6:.3f} | `{r.source}` |')
    return '\n'.join(lines)


def backbone_latency(names: Sequence[str] = tuple(BACKBONES),
                     shape: Sequence[int] = (224, 224),
                     batch_size: int = 1,
                     runs: int = 50,
                     warmup: int = 10,
                     device: str = 'cpu',
                     amp: bool = False,
                     threads: Optional[int] = None,
                     progress: Progress = None,
                     fold_batchnorm: bool = False) -> List[LatencyResult]:
    """Latency of each whole ImageNet classifier (:func:`build_classifier`).

    Args:
        names (Sequence[str]): Backbone names. Defaults to all.
        shape (Sequence[int]): Input ``(H, W)``. Defaults to (224, 224).
        batch_size (int): Defaults to 1.
        runs (int): Timed runs. Defaults to 50.
        warmup (int): Untimed runs. Defaults to 10.
        device (str): Defaults to ``'cpu'``.
        amp (bool): CUDA fp16 autocast. Defaults to False.
        threads (int, optional): Torch threads; None keeps the setting. Defaults to None.
        progress (Callable[[str], None], optional): Progress lines. Defaults to None.
        fold_batchnorm (bool): Also time each classifier with its BatchNorms folded into the
            convolutions before them (:func:`ghostdet.models.fuse_conv_bn`, which checks the
            fold), as deployment runs it. Defaults to False.

    Returns:
        list[LatencyResult]: One per name, named after it; with ``fold_batchnorm``, then one
        per name for the folded copy (``'<name>, BatchNorm folded'``), each timed side by
        side with its unfolded network, one run of each in turn.
    """
    results, folded = [], []
    for name in names:
        model = build_classifier(name).to(device)
        x = torch.rand(batch_size, 3, *shape, device=device)
        models = [(name, model)]
        if fold_batchnorm:
            models.append((f'{name}, BatchNorm folded', fuse_conv_bn(model, x)[0]))
        timings = benchmark_modules(models, x, runs=runs, warmup=warmup, device=device,
                                    amp=amp, threads=threads, progress=progress)
        results.append(timings[0])
        folded += timings[1:]
    return results + folded


def backbone_runtime_latency(names: Sequence[str],
                             shape: Sequence[int] = (224, 224),
                             runs: int = 50,
                             warmup: int = 10,
                             progress: Progress = None) -> List[LatencyResult]:
    """CPU latency of each backbone alone (:func:`build_backbone`: up to its last 1x1 conv) in
    PyTorch and exported to onnxruntime (:func:`ghostdet.deployment.export_module`, checked to
    compute PyTorch's outputs), all of them timed side by side, one run of each in turn (so
    that a load change on the machine affects every row alike), with torch's current thread
    count for both runtimes.

    Args:
        names (Sequence[str]): Backbone names.
        shape (Sequence[int]): Input ``(H, W)``. Defaults to (224, 224).
        runs (int): Timed runs. Defaults to 50.
        warmup (int): Untimed runs. Defaults to 10.
        progress (Callable[[str], None], optional): Progress lines. Defaults to None.

    Returns:
        list[LatencyResult]: Per name, ``'<name>, PyTorch'`` then ``'<name>, onnxruntime'``.
    """
    from ..deployment import export_module

    x = torch.rand(1, 3, *shape)
    models = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(names):
            model = build_backbone(name)
            models += [(f'{name}, PyTorch', model),
                       (f'{name}, onnxruntime',
                        export_module(model, x, os.path.join(tmp, f'backbone{i}.onnx')))]
        return benchmark_modules(models, x, runs=runs, warmup=warmup, progress=progress)


def format_runtime_table(results: Sequence[LatencyResult],
                         baseline: str = 'MobileNetV3-Large') -> str:
    """Markdown: one row per backbone of :func:`backbone_runtime_latency`, PyTorch and
    onnxruntime side by side (median ms), onnxruntime's time as a share of PyTorch's, and
    each runtime's time relative to ``baseline``'s in the same runtime."""
    by_name = {r.name: r for r in results}
    names = [r.name[:-len(', PyTorch')] for r in results if r.name.endswith(', PyTorch')]
    base = (by_name.get(f'{baseline}, PyTorch'), by_name.get(f'{baseline}, onnxruntime'))
    lines = [f'| backbone | PyTorch (ms) | onnxruntime (ms) | onnxruntime / PyTorch '
             f'| PyTorch vs {baseline} | onnxruntime vs {baseline} |',
             '|---|---:|---:|---:|---:|---:|']
    for name in names:
        torch_ms = by_name[f'{name}, PyTorch'].median_ms
        ort_ms = by_name[f'{name}, onnxruntime'].median_ms
        ratios = ['-' if b is None else f'{ms / b.median_ms:.2f}x'
                  for ms, b in zip((torch_ms, ort_ms), base)]
        lines.append(f'| {name} | {torch_ms:.2f} | {ort_ms:.2f} | {ort_ms / torch_ms:.2f}x '
                     f'| {ratios[0]} | {ratios[1]} |')
    return '\n'.join(lines)


@dataclass
class DetectorLatency:
    """Latency of one detector and of its backbone and neck.

    Attributes:
        name (str): ``'{algorithm} {backbone} {FPN|GhostFPN}'``.
        total (LatencyResult): The whole run (see :func:`detector_latency`'s ``mode``).
        backbone (LatencyResult, optional): The backbone alone (``mode='network'`` only).
        neck (LatencyResult, optional): The neck alone (``mode='network'`` only).
    """
    name: str
    total: LatencyResult
    backbone: Optional[LatencyResult] = None
    neck: Optional[LatencyResult] = None


def detector_latency(config_dir: Path,
                     backbones: Sequence[str],
                     algorithms: Sequence[str] = ALGORITHMS,
                     necks: Sequence[str] = NECKS,
                     shape: Sequence[int] = (480, 640),
                     batch_size: int = 1,
                     runs: int = 5,
                     warmup: int = 1,
                     device: str = 'cpu',
                     amp: bool = False,
                     mode: str = 'network',
                     num_proposals: int = 1000,
                     threads: Optional[int] = None,
                     progress: Progress = None) -> List[DetectorLatency]:
    """Latency of detectors on synthetic images.

    ``mode='network'`` times :class:`~ghostdet.models.DetectorNetwork`: backbone, neck, dense
    head and, for two-stage detectors, the RoI head on ``num_proposals`` fixed synthetic RoIs,
    no decoding or NMS; the same work whatever the weights, so rows compare on equal terms. The
    backbone and the neck are also timed alone. ``'tensor'`` and ``'predict'`` time
    ``model(..., mode=...)``: with random weights their proposals and NMS work vary from model
    to model.

    Args:
        config_dir (Path): The ``configs/`` folder.
        backbones (Sequence[str]): Backbone names.
        algorithms (Sequence[str]): Defaults to ``('retinanet', 'faster-rcnn')``.
        necks (Sequence[str]): Defaults to ``('fpn', 'ghost-fpn')``.
        shape (Sequence[int]): Input ``(H, W)``, padded as the data preprocessor does.
            Defaults to (480, 640).
        batch_size (int): Defaults to 1.
        runs (int): Timed runs. Defaults to 5.
        warmup (int): Untimed runs. Defaults to 1.
        device (str): Defaults to ``'cpu'``.
        amp (bool): CUDA fp16 autocast. Defaults to False.
        mode (str): ``'network'``, ``'tensor'`` or ``'predict'``. Defaults to ``'network'``.
        num_proposals (int): RoIs per image in ``'network'`` mode. Defaults to 1000.
        threads (int, optional): Torch threads. Defaults to None.
        progress (Callable[[str], None], optional): Progress lines. Defaults to None.

    Returns:
        list[DetectorLatency]: One per combination.
    """
    if mode not in ('network', 'tensor', 'predict'):
        raise ValueError(f'mode must be "network", "tensor" or "predict", but got {mode!r}')
    timing = dict(runs=runs, warmup=warmup, device=device, amp=amp, threads=threads,
                  progress=progress)
    results = []
    for algorithm in algorithms:
        for backbone in backbones:
            for neck in necks:
                cfg, _ = detector_config(config_dir, algorithm, backbone, neck)
                model = build_detector(cfg, device=device)
                inputs, samples = synthetic_batch(model, shape, batch_size)
                name = f'{algorithm} {backbone} {NECK_TYPES[neck]}'
                if mode != 'network':
                    total = benchmark_module(model, (inputs, samples), name=name, mode=mode,
                                             **timing)
                    results.append(DetectorLatency(name, total))
                    continue
                total = benchmark_module(DetectorNetwork(model, num_proposals), inputs,
                                         name=name, **timing)
                with torch.no_grad():
                    feats = model.backbone(inputs)
                part = benchmark_module(model.backbone, inputs, name=f'{name}: backbone',
                                        **timing)
                neck_time = benchmark_module(model.neck, (feats, ), name=f'{name}: neck',
                                             **timing)
                results.append(DetectorLatency(name, total, part, neck_time))
    return results


def format_detector_latency_table(results: Sequence[DetectorLatency],
                                  baseline: Optional[str] = None) -> str:
    """Markdown: per detector, backbone / neck / whole-run median ms per image and spread.

    Args:
        results (Sequence[DetectorLatency]): :func:`detector_latency` results.
        baseline (str, optional): Name of the row the ratio column divides by. Defaults to
            None (no ratio column).

    Returns:
        str: The table.
    """
    base = next((r for r in results if r.name == baseline), None)
    some = results[0].total
    lines = [
        f'| detector ({some.device}, {"AMP fp16" if some.amp else "fp32"}, batch '
        f'{some.batch_size}, {some.threads} thread(s)) | backbone ms | neck ms | total ms/image '
        '| total p10-p90 | images/s | runs |' + (f' vs {baseline} |' if base else ''),
        '|---|---:|---:|---:|---:|---:|---:|' + ('---:|' if base else '')
    ]

    def ms(result: Optional[LatencyResult]) -> str:
        return '-' if result is None else f'{result.ms_per_image:.1f}'

    for r in results:
        t = r.total
        line = (f'| {r.name} | {ms(r.backbone)} | {ms(r.neck)} | {t.ms_per_image:.1f} '
                f'| {t.p10_ms / t.batch_size:.1f}-{t.p90_ms / t.batch_size:.1f} '
                f'| {t.images_per_s:.2f} | {t.warmup}+{t.runs} |')
        if base is not None:
            line += f' {t.ms_per_image / base.total.ms_per_image:.2f}x |'
        lines.append(line)
    return '\n'.join(lines)


def plot_comparison(backbones: Sequence[BackboneRow],
                    backbone_times: Sequence[LatencyResult],
                    detector_times: Sequence[DetectorLatency],
                    path: Path,
                    title: str = '') -> Path:
    """A PNG: classifier MACs vs latency (left) and detector latency bars (right), split into
    backbone, neck and heads when those were timed.

    Args:
        backbones (Sequence[BackboneRow]): :func:`backbone_rows`.
        backbone_times (Sequence[LatencyResult]): :func:`backbone_latency` (fp32 rows).
        detector_times (Sequence[DetectorLatency]): :func:`detector_latency`; may be empty.
        path (Path): Output file.
        title (str): Figure title. Defaults to ''.

    Returns:
        Path: ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    times = {r.name: r for r in backbone_times}
    ncols = 2 if detector_times else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.5 * ncols, 4.8), squeeze=False)
    ax = axes[0][0]
    for row in backbones:
        if row.name not in times:
            continue
        r = times[row.name]
        color = 'tab:green' if row.name.startswith('GhostNet') else 'tab:blue'
        ax.errorbar(row.classifier_macs / 1e6, r.ms_per_image,
                    yerr=[[r.ms_per_image - r.p10_ms / r.batch_size],
                          [r.p90_ms / r.batch_size - r.ms_per_image]],
                    fmt='o', color=color, capsize=3)
        ax.annotate(row.name, (row.classifier_macs / 1e6, r.ms_per_image),
                    textcoords='offset points', xytext=(5, 4), fontsize=8)
    ax.margins(x=0.2)
    ax.set_xlabel('MACs, paper convention (M), 224x224 classifier')
    ax.set_ylabel('median ms/image (p10-p90 bars)')
    some = backbone_times[0] if backbone_times else None
    if some is not None:
        ax.set_title(f'ImageNet classifiers, {some.device}, batch {some.batch_size}, '
                     f'{some.threads} thread(s)', fontsize=9)
    ax.grid(alpha=0.3)
    if detector_times:
        ax = axes[0][1]
        names = [r.name for r in detector_times]
        rows = range(len(names))
        left = [0.0] * len(names)
        parts = [('backbone', [r.backbone for r in detector_times], 'tab:green'),
                 ('neck', [r.neck for r in detector_times], 'tab:orange')]
        for label, results, color in parts:
            if all(p is not None for p in results):
                values = [p.ms_per_image for p in results]
                ax.barh(rows, values, left=left, color=color, label=label)
                left = [a + b for a, b in zip(left, values)]
        rest = [max(r.total.ms_per_image - done, 0.0) for r, done in zip(detector_times, left)]
        ax.barh(rows, rest, left=left, color='tab:gray',
                label='heads' if any(left) else 'whole detector')
        ax.legend(fontsize=7, loc='upper right')
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel('median ms/image')
        some = detector_times[0].total
        ax.set_title(f'detectors, {some.device}, batch {some.batch_size}, '
                     f'{some.threads} thread(s)', fontsize=9)
        ax.grid(axis='x', alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
