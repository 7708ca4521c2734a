"""Cost and speed of several detectors in one run: params, MACs at several input sizes, and the
network's CPU latency in PyTorch and in onnxruntime (float and int8) with 1 or more threads,
the models of each runtime timed side by side (one run of each in turn), so that the ratios
between rows hold on a machine whose load drifts."""
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..analysis.complexity import count_paper_macs, count_params
from ..analysis.latency import LatencyResult, measure_interleaved, module_runner, num_threads
from ..apis.builder import build_detector, load_config
from ..models import DetectorNetwork, synthetic_batch

RUNTIMES = ('PyTorch', 'onnxruntime fp32', 'onnxruntime int8')
# The light detectors and the detectors they are measured against: (name, config)
LIGHT_BASELINE = 'mmdet RTMDet-tiny'
LIGHT_DETECTORS = (
    ('RTMDet GhostNet-1.0x GhostPAN', 'configs/rtmdet/rtmdet_ghostnet-1.0x_ghost-pan_300e_coco.py'),
    ('RTMDet GhostNet-0.5x GhostPAN', 'configs/rtmdet/rtmdet_ghostnet-0.5x_ghost-pan_300e_coco.py'),
    ('RTMDet MobileNetV3-L GhostPAN',
     'configs/rtmdet/rtmdet_mobilenetv3-large_ghost-pan_300e_coco.py'),
    ('RTMDet MobileNetV2 GhostPAN', 'configs/rtmdet/rtmdet_mobilenetv2_ghost-pan_300e_coco.py'),
    (LIGHT_BASELINE, 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'),
    ('mmdet YOLOX-tiny', 'mmdet::yolox/yolox_tiny_8xb8-300e_coco.py'),
    ('mmdet SSDLite-MobileNetV2', 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'),
    ('RetinaNet GhostNet-1.0x GhostFPN',
     'configs/bccd/retinanet_ghostnet-1.0x_ghost-fpn_50e_bccd.py'),
)
# instruction sets that decide CPU inference speed, as /proc/cpuinfo flags and as named here
ISA_FLAGS = (('avx2', 'AVX2'), ('avx512f', 'AVX-512F'), ('avx512_vnni', 'AVX-512 VNNI'),
             ('avx_vnni', 'AVX-VNNI'), ('amx_int8', 'AMX-INT8'))


def cpu_description() -> str:
    """The CPU model, core count and the instruction sets that matter for inference, e.g.
    ``'Intel(R) Xeon(R) Processor, 2 cores, AVX2 AVX-512F AVX-512 VNNI'`` (Linux's
    ``/proc/cpuinfo``; elsewhere the platform's processor name alone)."""
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'model name' and value.strip():
                    model = value.strip()
                elif key.strip() == 'flags':
                    flags = set(value.split())
    except OSError:
        pass
    isa = ' '.join(name for flag, name in ISA_FLAGS if flag in flags) or 'none of ' + ', '.join(
        name for _, name in ISA_FLAGS)
    return f'{model}, {os.cpu_count()} cores, {isa}'


@dataclass
class DetectorCostSpeed:
    """One detector's row: parameters, MACs per input size ``(H, W)`` and latency per
    ``(runtime, threads)`` (``runtime`` one of :data:`RUNTIMES`)."""

    name: str
    config: str
    params: int
    macs: Dict[Tuple[int, int], int] = field(default_factory=dict)
    latency: Dict[Tuple[str, int], LatencyResult] = field(default_factory=dict)


def _set_num_classes(cfg, num_classes: int) -> None:
    """Give the detection head (a single-stage ``bbox_head`` or an RoI head's) the classes."""
    roi_head = cfg.model.get('roi_head')
    head = roi_head.bbox_head if roi_head is not None else cfg.model.bbox_head
    head.num_classes = num_classes


def cost_and_speed(detectors: Sequence[Tuple[str, str]],
                   shape: Sequence[int] = (320, 320),
                   mac_shapes: Sequence[Sequence[int]] = ((320, 320), (480, 640)),
                   threads: Sequence[int] = (1, 2),
                   runtimes: Sequence[str] = RUNTIMES,
                   num_classes: Optional[int] = None,
                   runs: int = 30,
                   warmup: int = 5,
                   progress: Optional[Callable[[str], None]] = None
                   ) -> List[DetectorCostSpeed]:
    """Params, MACs and CPU latency of each detector's network, side by side.

    Each detector is built with random weights (nothing is downloaded; ``init_cfg`` is not
    applied). MACs (paper convention: conv and linear multiply-accumulates) and latency are
    those of :class:`~ghostdet.analysis.DetectorNetwork`: backbone, neck and dense head
    ``forward``, no decoding or NMS, one image. For onnxruntime the same network is exported
    (:func:`ghostdet.deployment.export_for_timing`: checked against PyTorch, then quantized to
    int8 calibrated on synthetic images, right for speed only). For each thread count and
    runtime, every model is timed in turn, round after round
    (:func:`~ghostdet.analysis.measure_interleaved`): the ratios within a runtime are side by
    side. Runtimes take turns only between these groups, and onnxruntime's idle threads do not
    spin, so that no runtime's waiting threads slow another's run.

    Args:
        detectors (Sequence[tuple[str, str]]): ``(name, config)`` pairs; configs may be
            ``mmdet::`` paths.
        shape (Sequence[int]): Timed image ``(H, W)``. Defaults to (320, 320).
        mac_shapes (Sequence[Sequence[int]]): Image sizes whose MACs are counted. Defaults
            to ((320, 320), (480, 640)).
        threads (Sequence[int]): Thread counts (torch's and onnxruntime's intra-op threads).
            Defaults to (1, 2).
        runtimes (Sequence[str]): Which of :data:`RUNTIMES` to time. Defaults to all.
        num_classes (int, optional): Set every head to this many classes (the heads' width
            depends on it). None keeps the configs'. Defaults to None.
        runs (int): Timed rounds. Defaults to 30.
        warmup (int): Untimed rounds. Defaults to 5.
        progress (Callable[[str], None], optional): Receives progress lines. Defaults to None.

    Returns:
        list[DetectorCostSpeed]: One row per detector, in order.
    """
    from ..deployment import ONNXNetwork, export_for_timing

    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown or not runtimes:
        raise ValueError(f'runtimes must be some of {RUNTIMES}, but got {list(runtimes)}')
    say = progress or (lambda message: None)
    rows, models, files = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, config) in enumerate(detectors):
            cfg = load_config(config)
            if num_classes is not None:
                _set_num_classes(cfg, num_classes)
            model = build_detector(cfg)
            network = DetectorNetwork(model)
            row = DetectorCostSpeed(name, str(config), count_params(model))
            for mac_shape in mac_shapes:
                img = synthetic_batch(model, mac_shape)[0]
                row.macs[tuple(int(s) for s in mac_shape)] = count_paper_macs(network, img)[0]
            img = synthetic_batch(model, shape)[0]
            exported = (None, None)
            if any(r.startswith('onnxruntime') for r in runtimes):
                say(f'{name}: exporting to ONNX and quantizing to int8')
                folder = os.path.join(tmp, str(i))
                os.makedirs(folder)
                calibration = [synthetic_batch(model, shape, seed=seed)[0] for seed in (1, 2)]
                exported = export_for_timing(model, folder, img, calibration, progress=None)
            rows.append(row)
            models.append((network, img))
            files.append(exported)
        for count in threads:
            with num_threads(count):
                for runtime in runtimes:  # one runtime at a time: no thread pools taking turns
                    fns = []
                    for row, (network, img), (float_file, int8_file) in zip(rows, models,
                                                                             files):
                        module = network
                        if runtime != 'PyTorch':
                            path = int8_file if runtime.endswith('int8') else float_file
                            module = ONNXNetwork(path, num_threads=count, spinning=False)
                        fns.append((f'{row.name} [{runtime}]', module_runner(module, (img, ))))
                    say(f'timing {len(fns)} networks in {runtime} with {count} thread(s), '
                        'side by side')
                    results = measure_interleaved(
                        fns, runs=runs, warmup=warmup, progress=progress,
                        precisions=['int8' if runtime.endswith('int8') else ''] * len(fns))
                    for row, result in zip(rows, results):
                        row.latency[(runtime, count)] = result
    return rows


def format_cost_speed_table(rows: Sequence[DetectorCostSpeed],
                            baseline: Optional[str] = None) -> str:
    """A markdown table: one row per detector; params, GMACs per size, then the median
    ms/image per runtime and thread count, each with its ratio to the ``baseline`` row's."""
    base = next((r for r in rows if r.name == baseline), None)
    if baseline is not None and base is None:
        raise ValueError(f'no row named {baseline!r}: {[r.name for r in rows]}')
    mac_shapes = list(rows[0].macs) if rows else []
    timings = list(rows[0].latency) if rows else []
    head = ['detector', 'params (M)'] + [f'GMACs {h}x{w}' for h, w in mac_shapes]
    head += [f'{runtime}, {count} thread{"s" if count > 1 else ""} (ms)'
             for runtime, count in timings]
    lines = ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 1)]
    for row in rows:
        cells = [row.name, f'{row.params / 1e6:.2f}']
        for mac_shape in mac_shapes:
            cell = f'{row.macs[mac_shape] / 1e9:.2f}'
            if base is not None:
                cell += f' ({row.macs[mac_shape] / base.macs[mac_shape]:.2f}x)'
            cells.append(cell)
        for key in timings:
            ms = row.latency[key].ms_per_image
            cell = f'{ms:.1f}'
            if base is not None:
                cell += f' ({ms / base.latency[key].ms_per_image:.2f}x)'
            cells.append(cell)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
