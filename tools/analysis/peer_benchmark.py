"""ghostdet Faster R-CNNs next to torchvision's fasterrcnn_mobilenet_v3_large_fpn, one run.

    python tools/analysis/peer_benchmark.py [--device cuda] [--amp] [--batch-sizes 1 8] \
        [--shape 800 1216] [--runs 50] [--out docs/benchmarks_peer.md] [CONFIG ...]

Random weights on both sides (nothing downloaded), the same images, each side with its own
preprocessing, network, decoding and NMS (see ``ghostdet.study.peers``). Prints one
markdown table per batch size and precision with ratios to the torchvision row. Without
torchvision (it is not a ghostdet requirement), the peer row is left out and the table says
why; ghostdet's rows are still measured.
"""
import argparse
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import ghostdet  # noqa: F401  (version guard, registrations)
from ghostdet.analysis import format_latency_table
from ghostdet.study.compare import machine_description
from ghostdet.study.peers import PEER, PEER_CONFIGS, peer_latency
from ghostdet.study.study import cuda_description
from ghostdet.utils.cli import input_errors, non_negative_int, positive_int, torch_device
from ghostdet.utils.config import config_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=f'ghostdet detectors vs torchvision {PEER}')
    parser.add_argument('configs', nargs='*', default=list(PEER_CONFIGS),
                        help='ghostdet configs (default: the Faster R-CNN GhostNet and '
                        'MobileNetV3-Large COCO configs)')
    parser.add_argument('--device', type=torch_device, default='cpu',
                        help='cpu or cuda[:N] (default cpu)')
    parser.add_argument('--amp', action='store_true',
                        help='also time CUDA fp16 autocast (fp32 is always timed)')
    parser.add_argument('--batch-sizes', type=positive_int, nargs='+', default=[1, 8])
    parser.add_argument('--shape', type=positive_int, nargs=2, default=[800, 1216],
                        metavar=('H', 'W'),
                        help='image size (default 800 1216, where the peer was measured)')
    parser.add_argument('--runs', type=positive_int, default=50, help='timed runs (default 50)')
    parser.add_argument('--warmup', type=non_negative_int, default=10,
                        help='warm-up runs (default 10)')
    parser.add_argument('--threads', type=positive_int, default=None, help='torch CPU threads')
    parser.add_argument('--out', default=None, help='also write the tables to this file')
    args = parser.parse_args(argv)
    if args.amp and not args.device.startswith('cuda'):
        parser.error('--amp (fp16 autocast) needs --device cuda')
    return args


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    command = 'python tools/analysis/peer_benchmark.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    with input_errors():  # a missing config: one line, exit 2, before any timing
        for config in args.configs:
            config_file(config)
    amp_modes = [False, True] if args.amp else [False]
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    results, missing = peer_latency(args.configs, args.shape, args.batch_sizes, args.device,
                                    amp_modes, args.runs, args.warmup, args.threads,
                                    progress=log)
    machine = machine_description()
    if args.device.startswith('cuda'):
        machine = f'{cuda_description()}; {machine}'
    lines = [f'# ghostdet Faster R-CNN vs torchvision {PEER}', '',
             f'Machine: {machine}. Command: `{command}`', '',
             f'Images {args.shape[0]}x{args.shape[1]}, random weights on both sides, '
             'each side with its own preprocessing, network, decoding and NMS.', '']
    if missing:
        lines += [f'**No peer row:** {missing}', '']
    peer_name = f'torchvision {PEER}'
    for batch_size in args.batch_sizes:
        for amp in amp_modes:
            group = [r for r in results if r.batch_size == batch_size and r.amp == amp]
            lines += [f'## batch {batch_size}, {"AMP fp16" if amp else "fp32"}', '',
                      format_latency_table(group, baseline=None if missing else peer_name), '']
    text = '\n'.join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        log(f'wrote {args.out}')
    return text


if __name__ == '__main__':
    main()
