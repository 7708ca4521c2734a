"""The inference options on a GPU, in one run: backbones and detectors, eager fp32, fp16 weights
and every option, against MobileNetV3-Large twins, RTMDet-tiny and torchvision's peer.

    python tools/analysis/gpu_benchmark.py [CONFIG ...] [--light CONFIG] [--twin CONFIG] \\
        [--device cuda] [--shapes 320 320 800 1344] [--batch-sizes 1 8] \\
        [--backbone-shapes 224 224 320 320 800 1344] [--no-backbones] [--runs 30] \\
        [--warmup 10] [--out FILE]

CONFIG defaults to RetinaNet GhostNet 1.0x, its MobileNetV3-Large twin and mmdet's
RTMDet-tiny; ``--light`` names the light GhostNet detector and ``--twin`` its MobileNetV3-Large
twin (both added to the configs), for the targets printed under the tables. Every option set
is checked against the eager model's outputs at each size before it is timed
(``ghostdet.study.options_speed`` says how the tables are made). Random weights; nothing is
downloaded. On a CPU (``--device cpu``, to try it out) the variants are eager fp32 and
``fuse_bn + channels_last``, and there is no peer row.
"""
import argparse
import shlex
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import ghostdet  # noqa: F401  (version guard, registrations)
from ghostdet.study.compare import machine_description
from ghostdet.study.options_speed import (BACKBONE_SHAPES, BACKBONES, BATCH_SIZES, DETECTORS,
                                          SHAPES, SpeedRow, format_speed_tables,
                                          options_speed)
from ghostdet.study.study import cuda_description
from ghostdet.utils.cli import input_errors, non_negative_int, positive_int, torch_device
from ghostdet.utils.config import config_file


def _pairs(values: Sequence[int], flag: str, parser: argparse.ArgumentParser
           ) -> List[Tuple[int, int]]:
    if len(values) % 2:
        parser.error(f'{flag} takes H W pairs, but got {len(values)} numbers')
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Inference options on a GPU vs the peers')
    parser.add_argument('configs', nargs='*', default=list(DETECTORS),
                        help='detector configs (default: RetinaNet GhostNet 1.0x, RetinaNet '
                        'MobileNetV3-Large, mmdet RTMDet-tiny)')
    parser.add_argument('--light', help='the light GhostNet detector\'s config (added)')
    parser.add_argument('--twin', help='its MobileNetV3-Large twin\'s config (added)')
    parser.add_argument('--device', type=torch_device, default='cuda',
                        help='cuda[:N], or cpu to try the tables out (default cuda)')
    parser.add_argument('--shapes', type=positive_int, nargs='+',
                        default=[s for shape in SHAPES for s in shape], metavar='H W',
                        help='detector input sizes as H W pairs (default 320 320 800 1344)')
    parser.add_argument('--backbone-shapes', type=positive_int, nargs='+',
                        default=[s for shape in BACKBONE_SHAPES for s in shape], metavar='H W',
                        help='backbone input sizes (default 224 224 320 320 800 1344)')
    parser.add_argument('--batch-sizes', type=positive_int, nargs='+',
                        default=list(BATCH_SIZES), help='default 1 8')
    parser.add_argument('--no-backbones', action='store_true', help='skip the backbone table')
    parser.add_argument('--runs', type=positive_int, default=30, help='timed runs (default 30)')
    parser.add_argument('--warmup', type=non_negative_int, default=10,
                        help='warm-up runs (default 10)')
    parser.add_argument('--threads', type=positive_int, default=None, help='torch CPU threads')
    parser.add_argument('--out', default=None, help='also write the tables to this file')
    args = parser.parse_args(argv)
    args.shapes = _pairs(args.shapes, '--shapes', parser)
    args.backbone_shapes = _pairs(args.backbone_shapes, '--backbone-shapes', parser)
    for extra in (args.light, args.twin):
        if extra and extra not in args.configs:
            args.configs.append(extra)
    return args


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    command = 'python tools/analysis/gpu_benchmark.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    with input_errors():  # a missing config: one line, exit 2, before any timing
        for config in args.configs:
            config_file(config)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    machine = machine_description()
    if args.device.startswith('cuda'):
        machine = f'{cuda_description()}; {machine}'
    head = '\n'.join([
        '# Inference options: backbones and detectors', '',
        f'Machine: {machine}. Command: `{command}`', '',
        f'{args.warmup} warm-up + {args.runs} timed runs per row, side by side within each '
        'table (group); random weights.', ''])
    light, twin = (Path(p).stem if p else None for p in (args.light, args.twin))

    def save(rows: List[SpeedRow], missing: Optional[str] = None) -> str:
        peer = f'**No peer row:** {missing}\n\n' if missing else ''
        text = head + '\n' + peer + format_speed_tables(rows, light, twin)
        if args.out:  # after each group too, so that a run stopped early keeps its tables
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text)
        return text

    rows, missing = options_speed(
        args.configs, args.shapes, args.batch_sizes, () if args.no_backbones else BACKBONES,
        args.backbone_shapes, args.device, args.runs, args.warmup, threads=args.threads,
        progress=log, on_group=save)
    text = save(rows, missing)
    print(text)
    if args.out:
        log(f'wrote {args.out}')
    return text


if __name__ == '__main__':
    main()
