"""Latency of the inference options (``ghostdet.models.inference_options``) on a GPU, against
MobileNetV3 twins, mmdet's RTMDet-tiny and torchvision's ``fasterrcnn_mobilenet_v3_large_fpn``,
all measured in one run.

Two tables, each group of rows (an input size and batch size) timed side by side, one run of
each in turn (:func:`~ghostdet.analysis.measure_interleaved`), so a drift of the machine
reaches all of a group alike:

* **backbones** (GhostNet 1.0x and MobileNetV3-Large as the paper counts them: up to the last
  1x1 convolution) on random images;
* **detectors**, whole inference from uint8 images already on the device: data preprocessor,
  network, box decoding and NMS (``test_step``); torchvision's peer with its own transform
  (normalise; its resize is set to the input size, so it does not resize) and post-processing.

Each ghostdet model is timed as built (``fp32 eager``), with fp16 weights alone (``fp16``) and
with every option (``fastest``); before a group is timed, each variant is checked against the
eager model on two random batches of the group's size
(:func:`~ghostdet.models.check_against`), and a variant that fails is reported, not timed.
The peer is timed in fp32 in the group, and then with ``channels_last`` weights under fp16
autocast (entered once around its runs) on its own, right after. Random weights everywhere:
the post-processing's cost depends on how many boxes pass the score threshold, which random
weights decide (each detector with its config's own ``test_cfg``).
"""
import copy
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..analysis.backbones import build_backbone
from ..analysis.latency import amp_context, measure_interleaved, module_runner, num_threads
from ..apis.builder import build_detector
from ..models.inference_options import (AccelerationCheckError, InferenceOptions,
                                        accelerated_copy, check_against, example_inputs)
from ..models.structure import eval_no_grad
from .peers import PEER, MMDetTestStep, PeerUnavailable, build_torchvision_peer, mmdet_test_data
from .peers import peer_images

DETECTORS = (
    'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py',
    'configs/mobilenetv3/retinanet_mobilenetv3-large_fpn_1x_coco.py',
    'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
)
BACKBONES = ('GhostNet 1.0x', 'MobileNetV3-Large')
SHAPES = ((320, 320), (800, 1344))
BACKBONE_SHAPES = ((224, 224), (320, 320), (800, 1344))
BATCH_SIZES = (1, 8)
VARIANTS: Dict[str, InferenceOptions] = {
    'fp32 eager': InferenceOptions(),
    'fp16': InferenceOptions(fp16=True),
    'fastest': InferenceOptions.fastest(),
}
# the variants a CPU can run, for trying the tables out without a GPU
CPU_VARIANTS: Dict[str, InferenceOptions] = {
    'fp32 eager': InferenceOptions(),
    'fastest': InferenceOptions(fuse_bn=True, channels_last=True),
}
PEER_FAST = 'AMP fp16 + channels_last'
FAST_ERRORS = (AccelerationCheckError, RuntimeError, ValueError)


@dataclass
class SpeedRow:
    """One model at one input size and batch size.

    Attributes:
        kind (str): ``'backbone'`` or ``'detector'``.
        name (str): The model.
        shape (tuple[int, int]): Input ``(H, W)``.
        batch_size (int): Images per run.
        ms (dict[str, float]): Median ms per image of each variant timed.
        checked (dict[str, float]): Each variant's largest difference from the eager
            outputs in its check.
        errors (dict[str, str]): Why a variant was not timed.
    """
    kind: str
    name: str
    shape: Tuple[int, int]
    batch_size: int
    ms: Dict[str, float] = field(default_factory=dict)
    checked: Dict[str, float] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)


def _variants(model: nn.Module, inputs: List[torch.Tensor],
              variants: Dict[str, InferenceOptions]) -> Tuple[Dict[str, nn.Module],
                                                              Dict[str, str]]:
    """``model`` as built and a copy per other variant; a variant whose options fail their
    check is left out, with its error."""
    built, errors = {}, {}
    for name, options in variants.items():
        if not options.enabled:
            built[name] = model
            continue
        try:
            built[name] = accelerated_copy(model, options, inputs=inputs)[0]
        except FAST_ERRORS as err:
            errors[name] = str(err).splitlines()[0]
    return built, errors


def _check(reference: nn.Module, models: Dict[str, nn.Module], inputs: List[torch.Tensor],
           variants: Dict[str, InferenceOptions], row: SpeedRow) -> Dict[str, nn.Module]:
    """The variants of ``models`` that pass :func:`check_against` on ``inputs``; the others'
    errors go into ``row``."""
    passed = {}
    for name, model in models.items():
        if not variants[name].enabled:
            passed[name] = model
            continue
        try:
            row.checked[name] = check_against(reference, model, inputs, variants[name])
            passed[name] = model
        except FAST_ERRORS as err:
            row.errors[name] = str(err).splitlines()[0]
    return passed


def _time(fns: List[Tuple[str, Callable, nn.Module]], runs: int, warmup: int, device: str,
          batch_size: int, progress: Optional[Callable[[str], None]]) -> Dict[str, float]:
    """Median ms per image of each ``(name, run, module)``, timed side by side."""
    with ExitStack() as stack:
        for _, _, module in fns:
            stack.enter_context(eval_no_grad(module))
        results = measure_interleaved([(name, fn) for name, fn, _ in fns], runs=runs,
                                      warmup=warmup, device=device, batch_size=batch_size,
                                      progress=progress)
    return {r.name: r.ms_per_image for r in results}


def backbone_speed(names: Sequence[str] = BACKBONES,
                   shapes: Sequence[Sequence[int]] = BACKBONE_SHAPES,
                   batch_sizes: Sequence[int] = BATCH_SIZES,
                   device: str = 'cuda',
                   variants: Dict[str, InferenceOptions] = VARIANTS,
                   runs: int = 30,
                   warmup: int = 10,
                   progress: Optional[Callable[[str], None]] = None,
                   on_group: Optional[Callable[[List[SpeedRow]], None]] = None
                   ) -> List[SpeedRow]:
    """The backbone table: each backbone in each variant, per input size and batch size.
    ``on_group`` receives the rows so far after each group (to save partial results)."""
    rows = []
    models = {}
    for name in names:
        backbone = build_backbone(name).to(device)
        first = [torch.rand(1, 3, 224, 224, device=device) for _ in range(2)]
        models[name] = (backbone, ) + _variants(backbone, first, variants)
    for shape in shapes:
        for batch_size in batch_sizes:
            gen = torch.Generator().manual_seed(0)
            inputs = [torch.rand(batch_size, 3, *shape, generator=gen).to(device)
                      for _ in range(2)]
            fns, group = [], []
            for name, (reference, built, errors) in models.items():
                row = SpeedRow('backbone', name, tuple(shape), batch_size, errors=dict(errors))
                for variant, model in _check(reference, built, inputs, variants, row).items():
                    run = module_runner(model, (inputs[0], ), device=device)
                    fns.append((f'{name} | {variant}', run, model))
                group.append(row)
            times = _time(fns, runs, warmup, device, batch_size, progress)
            for row in group:
                row.ms = {v: times[f'{row.name} | {v}'] for v in variants
                          if f'{row.name} | {v}' in times}
            rows += group
            if on_group is not None:
                on_group(rows)
    return rows


def detector_speed(configs: Sequence[str] = DETECTORS,
                   shapes: Sequence[Sequence[int]] = SHAPES,
                   batch_sizes: Sequence[int] = BATCH_SIZES,
                   device: str = 'cuda',
                   variants: Dict[str, InferenceOptions] = VARIANTS,
                   runs: int = 30,
                   warmup: int = 10,
                   peer: Optional[str] = PEER,
                   progress: Optional[Callable[[str], None]] = None,
                   on_group: Optional[Callable[[List[SpeedRow]], None]] = None
                   ) -> Tuple[List[SpeedRow], Optional[str]]:
    """The detector table: each config in each variant and the torchvision peer, per input
    size and batch size. ``on_group``: as in :func:`backbone_speed`.

    Returns:
        tuple[list[SpeedRow], str or None]: The rows, the peer's first in each group; and why
        the peer is missing (None when it was timed).
    """
    models = {}
    for config in configs:
        model = build_detector(config, device=device)
        models[Path(config).stem] = (model, ) + _variants(
            model, example_inputs(model, shapes[0], 1), variants)
    missing = None
    peer_model = None
    if peer is not None:
        try:
            peer_model = build_torchvision_peer(peer, device)
        except PeerUnavailable as err:
            missing = str(err)
    rows = []
    for shape in shapes:
        for batch_size in batch_sizes:
            fns, group = [], []
            peer_row = peer_fast = None
            if peer_model is not None and str(device).startswith('cuda'):
                peer_model.transform.min_size = (min(shape), )  # no resize: the input size
                peer_model.transform.max_size = max(shape)
                peer_fast = copy.deepcopy(peer_model).to(memory_format=torch.channels_last)
                images = peer_images(shape, batch_size, device)
                peer_row = SpeedRow('detector', f'torchvision {peer}', tuple(shape), batch_size)
                fns.append((f'{peer_row.name} | fp32 eager',
                            module_runner(peer_model, (images, ), device=device), peer_model))
                group.append(peer_row)
            for name, (reference, built, errors) in models.items():
                row = SpeedRow('detector', name, tuple(shape), batch_size, errors=dict(errors))
                inputs = example_inputs(reference, shape, batch_size)
                data = mmdet_test_data(reference, shape, batch_size, device)
                for variant, model in _check(reference, built, inputs, variants, row).items():
                    step = MMDetTestStep(model)
                    fns.append((f'{name} | {variant}',
                                module_runner(step, (data, ), device=device), step))
                group.append(row)
            times = _time(fns, runs, warmup, device, batch_size, progress)
            if peer_fast is not None:  # autocast entered once around its own runs
                run = module_runner(peer_fast, (images, ), amp=True, device=device)
                with eval_no_grad(peer_fast), amp_context(device, True):
                    times.update(_time([(f'{peer_row.name} | {PEER_FAST}', run, peer_fast)],
                                       runs, warmup, device, batch_size, progress))
                del peer_fast
            for row in group:
                row.ms = {v: ms for key, ms in times.items()
                          for name, v in [key.split(' | ')] if name == row.name}
            rows += group
            if on_group is not None:
                on_group(rows)
    return rows, missing


def options_speed(configs: Sequence[str] = DETECTORS,
                  shapes: Sequence[Sequence[int]] = SHAPES,
                  batch_sizes: Sequence[int] = BATCH_SIZES,
                  backbones: Sequence[str] = BACKBONES,
                  backbone_shapes: Sequence[Sequence[int]] = BACKBONE_SHAPES,
                  device: str = 'cuda',
                  runs: int = 30,
                  warmup: int = 10,
                  peer: Optional[str] = PEER,
                  threads: Optional[int] = None,
                  variants: Optional[Dict[str, InferenceOptions]] = None,
                  progress: Optional[Callable[[str], None]] = None,
                  on_group: Optional[Callable[[List[SpeedRow]], None]] = None
                  ) -> Tuple[List[SpeedRow], Optional[str]]:
    """Both tables: :func:`backbone_speed` (skipped when ``backbones`` is empty), then
    :func:`detector_speed` (skipped when ``configs`` is empty). ``variants``: None for
    :data:`VARIANTS` on CUDA, :data:`CPU_VARIANTS` elsewhere (the peer is timed on CUDA
    only). ``on_group`` receives all the rows so far after each group."""
    if variants is None:
        variants = VARIANTS if str(device).startswith('cuda') else CPU_VARIANTS
    with num_threads(threads):
        rows = backbone_speed(backbones, backbone_shapes, batch_sizes, device, variants, runs,
                              warmup, progress, on_group) if backbones else []
        missing = None
        if configs:
            done = list(rows)
            detectors, missing = detector_speed(
                configs, shapes, batch_sizes, device, variants, runs, warmup, peer, progress,
                None if on_group is None else lambda more: on_group(done + more))
            rows += detectors
    return rows, missing


def _ms(row: SpeedRow, variant: str) -> str:
    return f'{row.ms[variant]:.2f}' if variant in row.ms else '-'


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f'{a / b:.2f}x' if a is not None and b else '-'


def best_ms(row: SpeedRow) -> Optional[float]:
    """The fastest variant's ms per image, None when nothing was timed."""
    return min(row.ms.values()) if row.ms else None


def format_speed_tables(rows: Sequence[SpeedRow], light: Optional[str] = None,
                        twin: Optional[str] = None) -> str:
    """Markdown: the backbone table with the GhostNet / MobileNetV3 ratio per variant, one
    detector table per input size and batch size with ratios to the peer, the checks'
    differences, the variants not timed and why, and the targets.

    Args:
        rows (Sequence[SpeedRow]): :func:`options_speed`'s rows.
        light (str, optional): The light GhostNet detector's name (its config's stem), for the
            target against the peer. Defaults to None.
        twin (str, optional): Its MobileNetV3-Large twin's name. Defaults to None.
    """
    variants = list(dict.fromkeys(v for r in rows if r.name[:12] != 'torchvision '
                                  for v in list(r.ms) + list(r.errors) + list(r.checked)))
    variants = [v for v in VARIANTS if v in variants] + [v for v in variants if v not in VARIANTS]
    lines: List[str] = []
    backbones = [r for r in rows if r.kind == 'backbone']
    targets: List[str] = []
    if backbones:
        lines += ['## Backbones (ms/image, median)', '',
                  '| backbone | input | batch | ' + ' | '.join(variants) + ' | fastest vs fp32 |',
                  '|---|---|---:|' + '---:|' * len(variants) + '---:|']
        for r in backbones:
            lines.append(f'| {r.name} | {r.shape[0]}x{r.shape[1]} | {r.batch_size} | '
                         + ' | '.join(_ms(r, v) for v in variants)
                         + f' | {_ratio(r.ms.get("fastest"), r.ms.get("fp32 eager"))} |')
        lines += ['', f'{BACKBONES[0]} / {BACKBONES[1]}, same variant, same group:', '']
        lines += ['| input | batch | ' + ' | '.join(variants) + ' |',
                  '|---|---:|' + '---:|' * len(variants)]
        by_group: Dict[tuple, Dict[str, SpeedRow]] = {}
        for r in backbones:
            by_group.setdefault((r.shape, r.batch_size), {})[r.name] = r
        for (shape, batch), group in by_group.items():
            ghost, mobile = group.get(BACKBONES[0]), group.get(BACKBONES[1])
            if ghost is None or mobile is None:
                continue
            ratios = [_ratio(ghost.ms.get(v), mobile.ms.get(v)) for v in variants]
            lines.append(f'| {shape[0]}x{shape[1]} | {batch} | ' + ' | '.join(ratios) + ' |')
            if batch == 1:
                targets.append(f'- backbone {BACKBONES[0]} / {BACKBONES[1]}, {shape[0]}x'
                               f'{shape[1]}, batch 1, fastest: {ratios[-1]} (target <= 1.15)')
        lines.append('')
    detectors = [r for r in rows if r.kind == 'detector']
    groups: Dict[tuple, List[SpeedRow]] = {}
    for r in detectors:
        groups.setdefault((r.shape, r.batch_size), []).append(r)
    for (shape, batch), group in groups.items():
        peer = next((r for r in group if r.name.startswith('torchvision ')), None)
        columns = variants + ([PEER_FAST] if peer is not None and PEER_FAST in peer.ms else [])
        lines += [f'## Detectors, {shape[0]}x{shape[1]}, batch {batch}: whole inference '
                  '(ms/image, median)', '',
                  '| model | ' + ' | '.join(columns) + ' | best vs peer fp32 | best vs peer '
                  'best |', '|---|' + '---:|' * (len(columns) + 2)]
        peer_fp32 = peer.ms.get('fp32 eager') if peer else None
        peer_best = best_ms(peer) if peer else None
        for r in group:
            best = best_ms(r)
            lines.append(f'| {r.name} | ' + ' | '.join(_ms(r, v) for v in columns)
                         + f' | {_ratio(best, peer_fp32)} | {_ratio(best, peer_best)} |')
        lines.append('')
        named = {r.name: r for r in group}
        if batch == 1 and light in named and peer is not None:
            targets.append(f'- {light}, {shape[0]}x{shape[1]}, batch 1, best vs the peer\'s '
                           f'best: {_ratio(best_ms(named[light]), peer_best)} (target <= 0.5)')
        if batch == 1 and light in named and twin in named:
            ratio = _ratio(named[light].ms.get('fastest'), named[twin].ms.get('fastest'))
            targets.append(f'- {light} / {twin}, {shape[0]}x{shape[1]}, batch 1, fastest: '
                           f'{ratio}')
        if batch > 1:
            for r in group:
                if 'fp16' in r.ms and 'fp32 eager' in r.ms:
                    targets.append(f'- {r.name}, {shape[0]}x{shape[1]}, batch {batch}, fp16 vs '
                                   f'fp32 eager: {_ratio(r.ms["fp16"], r.ms["fp32 eager"])} '
                                   '(target <= 1.00)')
    checked = [f'- {r.name} ({r.kind}, {r.shape[0]}x{r.shape[1]}, batch {r.batch_size}): '
               + ', '.join(f'{v} {d:.2g}' for v, d in r.checked.items())
               for r in rows if r.checked]
    errors = [f'- {r.name}, {r.shape[0]}x{r.shape[1]}, batch {r.batch_size}, {v}: {e}'
              for r in rows for v, e in r.errors.items()]
    if targets:
        lines += ['## Targets', ''] + targets + ['']
    if errors:
        lines += ['## Variants not timed', ''] + errors + ['']
    if checked:
        lines += ['## Checks: largest difference from the fp32 eager outputs (relative to '
                  'each output\'s magnitude)', ''] + checked + ['']
    return '\n'.join(lines)
