"""The light detectors next to mmdet's light detectors: cost and CPU speed in one run.

    python tools/analysis/light_benchmark.py [--shape 320 320] [--mac-shapes 320 320 480 640] \
        [--threads 1 2] [--runtimes PyTorch 'onnxruntime fp32' 'onnxruntime int8'] \
        [--num-classes 3] [--runs 30] [--warmup 5] [--out FILE] [--detector NAME=CONFIG ...]

One table, one row per detector: params, MACs (paper convention) at each ``--mac-shapes`` size,
and the median ms/image of the network (backbone, neck and dense head forward; no decoding or
NMS; random weights, batch 1) at ``--shape`` in PyTorch and in onnxruntime, float and int8, with
each ``--threads`` count; in brackets, each number's ratio to mmdet's RTMDet-tiny (the
``--baseline`` row). Within each runtime and thread count every model is timed in turn, round
after round, so the ratios hold on a loaded machine. The CPU (model and instruction sets) is
printed above the table. Without ``--detector``: ghostdet's RTMDet light detectors (GhostNet
1.0x and 0.5x, MobileNetV3-Large, MobileNetV2, all with GhostPAN and the light Ghost head), mmdet's
RTMDet-tiny, YOLOX-tiny and SSDLite-MobileNetV2, and ghostdet's RetinaNet GhostNet-1.0x
GhostFPN (the BCCD config). The int8 files are calibrated on synthetic images: right for
speed, not for accuracy (see ``tools/deployment/quantize_onnx.py``).

Idle threads do not spin in either runtime (onnxruntime's ``allow_spinning`` off; the tool sets
``OMP_WAIT_POLICY=PASSIVE`` for PyTorch's OpenMP unless it is set): on a machine whose cores
are shared with other work, threads spinning at OpenMP's barriers hold the cores the other
thread of the same run waits for, and 2 threads then run several times slower than 1.
"""
import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import List, Optional

if __name__ == '__main__':  # before torch starts OpenMP; see the module docstring
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import ghostdet  # noqa: E402,F401  (version guard, registrations)
from ghostdet.study.side_by_side import (LIGHT_BASELINE, LIGHT_DETECTORS,  # noqa: E402
                                            RUNTIMES, cost_and_speed, cpu_description,
                                            format_cost_speed_table)
from ghostdet.utils.cli import input_errors, non_negative_int, positive_int  # noqa: E402
from ghostdet.utils.config import config_file  # noqa: E402


def detector(text: str) -> tuple:
    name, sep, config = text.partition('=')
    if not sep or not name or not config:
        raise argparse.ArgumentTypeError(f'expected NAME=CONFIG, got {text!r}')
    return name, config


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Cost and CPU speed of light detectors, '
                                     'side by side')
    parser.add_argument('--detector', type=detector, nargs='+', default=None,
                        metavar='NAME=CONFIG',
                        help='rows (default: the light detectors and their mmdet peers)')
    parser.add_argument('--baseline', default=None,
                        help=f'row the ratios divide by (default {LIGHT_BASELINE!r} when '
                        'present)')
    parser.add_argument('--shape', type=positive_int, nargs=2, default=[320, 320],
                        metavar=('H', 'W'), help='timed image size (default 320 320)')
    parser.add_argument('--mac-shapes', type=positive_int, nargs='+',
                        default=[320, 320, 480, 640], metavar='H W',
                        help='image sizes whose MACs are counted, as H W pairs '
                        '(default 320 320 480 640)')
    parser.add_argument('--threads', type=positive_int, nargs='+', default=[1, 2],
                        help='thread counts of the timings (default 1 2)')
    parser.add_argument('--runtimes', nargs='+', choices=RUNTIMES, default=list(RUNTIMES),
                        help='runtimes to time (default all)')
    parser.add_argument('--num-classes', type=positive_int, default=3,
                        help='classes of every head (default 3, as BCCD)')
    parser.add_argument('--runs', type=positive_int, default=30,
                        help='timed rounds (default 30)')
    parser.add_argument('--warmup', type=non_negative_int, default=5,
                        help='warm-up rounds (default 5)')
    parser.add_argument('--out', default=None, help='also write the text to this file')
    args = parser.parse_args(argv)
    if len(args.mac_shapes) % 2:
        parser.error('--mac-shapes takes H W pairs')
    return args


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    command = 'python tools/analysis/light_benchmark.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    detectors = args.detector or list(LIGHT_DETECTORS)
    names = [name for name, _ in detectors]
    baseline = args.baseline or (LIGHT_BASELINE if LIGHT_BASELINE in names else None)
    with input_errors():  # a missing config or baseline: one line, exit 2, before any work
        for _, config in detectors:
            config_file(config)
        if baseline is not None and baseline not in names:
            raise ValueError(f'--baseline {baseline!r} is not a row: {names}')
    mac_shapes = list(zip(args.mac_shapes[::2], args.mac_shapes[1::2]))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    rows = cost_and_speed(detectors, args.shape, mac_shapes, args.threads, args.runtimes,
                          args.num_classes, args.runs, args.warmup, progress=log)
    text = '\n'.join([
        f'CPU: {cpu_description()}. Command: `{command}`', '',
        f'Network forward (no decoding or NMS), random weights, {args.num_classes} classes, '
        f'batch 1, timed at {args.shape[0]}x{args.shape[1]}, {args.warmup} warm-up + '
        f'{args.runs} timed rounds, median ms/image'
        + (f'; in brackets the ratio to {baseline}' if baseline else '') + '. Idle threads '
        f'do not spin (OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY", "unset")}, '
        'onnxruntime allow_spinning=0).', '',
        format_cost_speed_table(rows, baseline)])
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + '\n')
        log(f'wrote {args.out}')
    return text


if __name__ == '__main__':
    main()
