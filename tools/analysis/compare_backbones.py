"""Compare GhostNet 0.5x/1.0x/1.1x/1.3x, GhostNetV2/V3 1.0x, MobileNetV3-Large/Small and
MobileNetV2 1.0x.

    python tools/analysis/compare_backbones.py [--out-dir docs] [--runs N] [--threads T] [--onnx]

Prints and writes ``{out-dir}/benchmarks_table.md`` and ``{out-dir}/benchmarks_chart.png``:
(a) params and MACs (paper convention) at 224x224 vs the papers' numbers, (b) detector MACs at
1333x800 (RetinaNet / Faster R-CNN x FPN / GhostFPN), (c) CPU latency of the classifiers and
of detectors (and CUDA fp32 / AMP rows when a GPU is present); with ``--onnx``, CPU latency of
the backbones alone in PyTorch and onnxruntime side by side. The default run takes about
5 minutes on 2 CPU cores.
"""
import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

import ghostdet  # noqa: F401  (version guard, registrations)
from ghostdet.analysis import BACKBONES, format_latency_table, num_threads
from ghostdet.study.compare import (ALGORITHMS, NECKS, DetectorLatency, backbone_latency,
                                    backbone_rows, backbone_runtime_latency, detector_latency,
                                    detector_rows, format_backbone_table,
                                    format_detector_latency_table, format_detector_table,
                                    format_runtime_table, machine_description, plot_comparison)
from ghostdet.study.study import cuda_description
from ghostdet.utils.cli import non_negative_int, positive_int

REPO = Path(__file__).resolve().parents[2]
MAIN_BACKBONES = ['GhostNet 1.0x', 'GhostNet 1.1x', 'MobileNetV3-Large', 'MobileNetV2 1.0x']


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Compare light backbones (tables + chart)')
    parser.add_argument('--out-dir', default='docs', help='where the table and chart go')
    parser.add_argument('--runs', type=positive_int, default=50, help='timed runs per classifier')
    parser.add_argument('--warmup', type=non_negative_int, default=10,
                        help='warm-up runs per classifier')
    parser.add_argument('--threads', type=positive_int, default=1,
                        help='torch CPU threads (default 1)')
    parser.add_argument(
        '--backbones', nargs='+', default=list(BACKBONES), choices=list(BACKBONES),
        metavar='NAME', help=f'backbones (default: all: {", ".join(BACKBONES)})')
    parser.add_argument(
        '--det-backbones', nargs='*', default=MAIN_BACKBONES, choices=list(BACKBONES),
        metavar='NAME', help='backbones of the detector latency rows (default: '
        f'{", ".join(MAIN_BACKBONES)}); none to skip')
    parser.add_argument(
        '--algorithms', nargs='+', default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument('--necks', nargs='+', default=list(NECKS), choices=list(NECKS))
    parser.add_argument(
        '--macs-shape', type=positive_int, nargs=2, default=[800, 1333], metavar=('H', 'W'),
        help='detector MACs input (default 800 1333, padded to 800x1344)')
    parser.add_argument(
        '--no-det-macs', action='store_true', help='skip the detector MACs table')
    parser.add_argument(
        '--mmengine', action='store_true',
        help='add mmengine FlopAnalyzer totals to the detector MACs table (slower)')
    parser.add_argument(
        '--det-shape', type=positive_int, nargs=2, default=[480, 640], metavar=('H', 'W'),
        help='detector latency input on CPU (default 480 640)')
    parser.add_argument('--det-runs', type=positive_int, default=5, help='timed runs per detector')
    parser.add_argument('--det-warmup', type=non_negative_int, default=1,
                        help='warm-up runs per detector')
    parser.add_argument(
        '--cuda-det-shape', type=positive_int, nargs=2, default=[800, 1344], metavar=('H', 'W'),
        help='detector latency input on CUDA (default 800 1344)')
    parser.add_argument(
        '--fuse-conv-bn', action='store_true',
        help='also time the classifiers with each BatchNorm folded into the convolution before '
        'it, as deployment runs them (the fold checked to keep the outputs)')
    parser.add_argument(
        '--onnx', action='store_true',
        help='also time each backbone alone (up to its last 1x1 conv) in PyTorch and, exported, '
        'in onnxruntime, side by side on the CPU')
    parser.add_argument(
        '--onnx-shape', type=positive_int, nargs=2, default=[224, 224], metavar=('H', 'W'),
        help='input of the --onnx rows (default 224 224)')
    parser.add_argument('--no-cuda', action='store_true', help='CPU rows only')
    parser.add_argument('--no-cpu', action='store_true',
                        help='CUDA rows only (needs a GPU); the chart then shows CUDA fp32')
    parser.add_argument('--table', default='benchmarks_table.md', help='table file name')
    parser.add_argument('--chart', default='benchmarks_chart.png', help='chart file name')
    args = parser.parse_args(argv)
    if args.no_cpu and (args.no_cuda or not torch.cuda.is_available()):
        parser.error('--no-cpu leaves nothing to time: no CUDA device (or --no-cuda)')
    return args


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_DETECTOR_LATENCY_NOTE = (
    'Network forward without post-processing (`DetectorNetwork`): backbone, neck, dense head '
    'and, for Faster R-CNN, the RoI head (RoIAlign + box head) on 1000 fixed synthetic RoIs '
    'instead of the RPN\'s NMS-ed proposals, so every row does the same head work whatever '
    'the (random) weights; box decoding and NMS are not timed. Backbone and neck are also timed '
    'alone; total is timed separately (not their sum). Ratios vs the MobileNetV3-Large FPN row '
    'of the same detector.')


def _fold_note(folded: bool) -> List[str]:
    if not folded:
        return []
    return ['"BatchNorm folded": each BatchNorm folded into the convolution before it, as '
            'deployment runs the network (the fold checked to keep the outputs), timed side by '
            'side with the unfolded network, one run of each in turn. Ratios vs the unfolded '
            'MobileNetV3-Large.', '']


def _per_algorithm_tables(results: List[DetectorLatency], algorithms: List[str]) -> List[str]:
    """One latency table per detector, ratios vs its MobileNetV3-Large FPN row."""
    lines: List[str] = []
    for algorithm in algorithms:
        rows = [r for r in results if r.name.startswith(f'{algorithm} ')]
        if rows:
            baseline = f'{algorithm} MobileNetV3-Large FPN'
            lines += [format_detector_latency_table(rows, baseline=baseline), '']
    return lines


def main(argv: Optional[List[str]] = None) -> Dict[str, object]:
    args = parse_args(argv)
    command = 'python tools/analysis/compare_backbones.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    out_dir = Path(args.out_dir)
    start = time.perf_counter()
    gpu = '' if args.no_cuda else (cuda_description() or '')
    sections = [
        '# Backbone comparison', '',
        f'Machine: {machine_description()}; {args.threads} torch thread(s) on CPU'
        + (f'; GPU {gpu}' if gpu else '') + '.', '',
        f'Command: `{command}`', ''
    ]
    results: Dict[str, object] = {}
    with num_threads(args.threads):
        _log('(a) params and MACs at 224x224')
        rows = backbone_rows(args.backbones)
        results['backbones'] = rows
        sections += [
            '## (a) Params and MACs at 224x224 (paper convention)', '',
            'classifier = the whole ImageNet network; backbone = up to the last 1x1 conv, no '
            'pooling/head (what a detector uses). MACs: Conv/Linear multiply-accumulates only.',
            '', format_backbone_table(rows), ''
        ]
        if not args.no_det_macs:
            h, w = args.macs_shape
            _log(f'(b) detector MACs at {h}x{w}')
            det_rows = detector_rows(REPO / 'configs', args.backbones, args.algorithms,
                                     args.necks, args.macs_shape, with_mmengine=args.mmengine,
                                     progress=_log)
            results['detectors'] = det_rows
            sections += [
                f'## (b) Detector MACs at {h}x{w} (H={h}, W={w}; input '
                f'{det_rows[0].components[-1].input} after padding), 1000 RoIs for Faster R-CNN',
                '',
                'Paper convention; heads = RetinaNet head, or RPN head + RoI box head. '
                'Post-processing (decoding, NMS) not counted.', '',
                format_detector_table(det_rows), ''
            ]
        cpu_bb: list = []
        cpu_det: list = []
        if not args.no_cpu:
            _log(f'(c) CPU latency of the classifiers at 224x224, {args.threads} thread(s)')
            cpu_bb = backbone_latency(args.backbones, runs=args.runs, warmup=args.warmup,
                                      progress=_log, fold_batchnorm=args.fuse_conv_bn)
            results['cpu_backbones'] = cpu_bb  # the chart keeps the unfolded rows (by name)
            sections += [
                '## (c) CPU latency, ImageNet classifiers at 224x224, batch 1', '',
                *_fold_note(args.fuse_conv_bn),
                format_latency_table(cpu_bb, baseline='MobileNetV3-Large'), ''
            ]
            if args.onnx:
                h, w = args.onnx_shape
                _log(f'(c) CPU latency of the backbones alone at {h}x{w}, PyTorch and '
                     'onnxruntime')
                runtimes = backbone_runtime_latency(args.backbones, args.onnx_shape,
                                                    runs=args.runs, warmup=args.warmup,
                                                    progress=_log)
                results['cpu_backbone_runtimes'] = runtimes
                sections += [
                    f'## (c) CPU latency, backbones alone at {h}x{w}, batch 1, PyTorch and '
                    'onnxruntime', '',
                    'Up to the last 1x1 conv, no head; exported to ONNX (checked to compute '
                    "PyTorch's outputs) and timed side by side with the PyTorch module, one run "
                    'of each in turn; median ms per image.', '',
                    format_runtime_table(runtimes), ''
                ]
            if args.det_backbones:
                h, w = args.det_shape
                _log(f'(c) CPU latency of detectors at {h}x{w}')
                cpu_det = detector_latency(REPO / 'configs', args.det_backbones, args.algorithms,
                                           args.necks, args.det_shape, runs=args.det_runs,
                                           warmup=args.det_warmup, progress=_log)
                results['cpu_detectors'] = cpu_det
                sections += [
                    f'## (c) CPU latency, detectors at {h}x{w} (H={h}, W={w}), batch 1', '',
                    _DETECTOR_LATENCY_NOTE, ''
                ] + _per_algorithm_tables(cpu_det, args.algorithms)
    chart_bb, chart_det = cpu_bb, cpu_det  # with --no-cpu: the CUDA fp32 rows, below
    chart_shape = args.cuda_det_shape if args.no_cpu else args.det_shape
    if torch.cuda.is_available() and not args.no_cuda:
        for amp in (False, True):
            tag = 'AMP fp16' if amp else 'fp32'
            _log(f'CUDA {tag}: classifiers')
            cuda_bb = backbone_latency(args.backbones, runs=max(args.runs, 100), warmup=20,
                                       device='cuda', amp=amp, progress=_log,
                                       fold_batchnorm=args.fuse_conv_bn)
            results[f'cuda_backbones_{tag}'] = cuda_bb
            sections += [
                f'## CUDA {tag}, ImageNet classifiers at 224x224, batch 1', '',
                *_fold_note(args.fuse_conv_bn),
                format_latency_table(cuda_bb, baseline='MobileNetV3-Large'), ''
            ]
            if args.det_backbones:
                h, w = args.cuda_det_shape
                cuda_det = detector_latency(REPO / 'configs', args.det_backbones,
                                            args.algorithms, args.necks, args.cuda_det_shape,
                                            runs=50, warmup=10, device='cuda', amp=amp,
                                            progress=_log)
                results[f'cuda_detectors_{tag}'] = cuda_det
                sections += [
                    f'## CUDA {tag}, detectors at {h}x{w}, batch 1', '', _DETECTOR_LATENCY_NOTE, ''
                ] + _per_algorithm_tables(cuda_det, args.algorithms)
            if args.no_cpu and not amp:  # the chart shows what was timed
                chart_bb, chart_det = cuda_bb, cuda_det if args.det_backbones else []
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = plot_comparison(
        rows, chart_bb, chart_det, out_dir / args.chart,
        title=f'{gpu if args.no_cpu else machine_description()}; detectors at '
        f'{chart_shape[0]}x{chart_shape[1]}')
    sections += [f'![comparison]({chart.name})', '',
                 f'Total time: {time.perf_counter() - start:.0f} s.', '']
    text = '\n'.join(sections)
    table = out_dir / args.table
    table.write_text(text)
    print(text)
    _log(f'wrote {table} and {chart}')
    results.update(table=table, chart=chart, markdown=text)
    return results


if __name__ == '__main__':
    main()
