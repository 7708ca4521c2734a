"""Parameters and MACs of a detector, per component, without a dataset.

    python tools/analysis/get_flops.py CONFIG [--shape H W] [--proposals N] \
        [--cfg-options model.backbone.widen_factor=1.3 ...]

Prints, for the backbone, neck, dense head (``rpn_head``/``bbox_head``), RoI head (on ``N``
synthetic RoIs) and the whole detector: parameters, MACs in the GhostNet paper's convention
(convolutions and linear layers only) and mmengine FlopAnalyzer totals (mmdet model zoo's
convention, which adds BatchNorm, upsampling and pooling). Post-processing is not counted.
"""
import argparse
from typing import List, Optional

from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, registrations)
from ghostdet.analysis import (ComponentComplexity, detector_complexity, format_complexity_table,
                               num_threads)
from ghostdet.apis import build_detector
from ghostdet.utils.cli import input_errors, positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Params and MACs of a detector per component')
    parser.add_argument('config', help='config file (or mmdet::... path)')
    parser.add_argument(
        '--shape', type=positive_int, nargs=2, default=[800, 1333], metavar=('H', 'W'),
        help='input height and width, padded to the data preprocessor\'s pad_size_divisor '
        'unless --no-pad (default: 800 1333)')
    parser.add_argument('--no-pad', action='store_true', help='use --shape as is')
    parser.add_argument(
        '--proposals', type=positive_int, default=1000,
        help='RoIs fed to a two-stage RoI head (default: 1000, mmdet Faster R-CNN '
        'test rpn.max_per_img)')
    parser.add_argument(
        '--no-mmengine', action='store_true', help='skip the mmengine FlopAnalyzer column')
    parser.add_argument('--threads', type=positive_int, default=None, help='torch threads')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.backbone.widen_factor=1.3')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[ComponentComplexity]:
    args = parse_args(argv)
    with num_threads(args.threads):
        with input_errors():  # a bad path or option: one line, exit 2
            model = build_detector(args.config, args.cfg_options)
        rows = detector_complexity(
            model,
            args.shape,
            num_proposals=args.proposals,
            with_mmengine=not args.no_mmengine,
            pad=not args.no_pad)
    print(f'{args.config}: {type(model).__name__}, input {rows[-1].input} '
          f'(requested {args.shape[0]}x{args.shape[1]})')
    print(format_complexity_table(rows))
    print('MACs, paper convention: multiply-accumulates of Conv/Linear layers only (BN folded; '
          'activations, pooling, upsampling, adds not counted). mmengine FlopAnalyzer: its total '
          '(1 multiply-add = 1 flop; also counts BN, upsampling, pooling; RoIAlign/NMS count 0). '
          'Post-processing (decoding, NMS) is in neither.')
    if any(r.name == 'roi_head' for r in rows):
        print(f'roi_head: box branch on {args.proposals} synthetic RoIs.')
    return rows


if __name__ == '__main__':
    main()
