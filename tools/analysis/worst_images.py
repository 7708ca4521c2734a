"""The test images a detector gets most wrong, drawn with what went wrong where.

    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/analysis/worst_images.py CONFIG results.pkl [--top 12] [--out-dir DIR] \
        [--iou-thr 0.5] [--score-thr 0.3] [--cfg-options ...]

Each image's detections are matched to its boxes by the confusion matrix's rule
(``ghostdet/analysis/confusion.py``); the images with the most errors (boxes missed, boxes
found as another class, detections on no box) are drawn to ``--out-dir`` (default: ``worst/``
beside the predictions) with boxes found in green, missed in red, confused in magenta and
detections on no box in orange, and in ``overview.png``; the table is printed. The predictions
file is read without running code from it.
"""
import argparse
import os.path as osp
from typing import List, Optional

import ghostdet  # noqa: F401  (version guard, registrations, safe loading)
from ghostdet.analysis.worst import format_worst_table, worst_images
from ghostdet.utils.cli import add_prediction_arguments, input_errors, positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the test images with the most errors: missed, confused, false')
    add_prediction_arguments(parser)
    parser.add_argument('--top', type=positive_int, default=12,
                        help='how many images to draw, the worst first (default 12)')
    parser.add_argument('--out-dir', help='where to write the pictures (default: worst/ '
                        'beside the predictions)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> list:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join(osp.dirname(osp.abspath(args.predictions)), 'worst')
    with input_errors():  # a bad path, a foreign or unsafe pickle: one line, exit 2
        worst, total = worst_images(args.config, args.predictions, out_dir, args.top,
                                    args.iou_thr, args.score_thr, args.cfg_options)
    print(f'\nIoU >= {args.iou_thr:g}, score >= {args.score_thr:g}: ', end='')
    if not worst:
        print(f'none of the {total} test images has an error')
        return worst
    print(f'the {len(worst)} of {total} test images with the most errors (green: found, '
          'red: missed, magenta: found as another class, orange: on no box)\n')
    print(format_worst_table(worst, out_dir))
    print(f'\nwrote them to {out_dir}; all of them: {osp.join(out_dir, "overview.png")}')
    return worst


if __name__ == '__main__':
    main()
