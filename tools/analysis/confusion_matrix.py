"""Confusion matrix of a detector's test predictions, each box and detection counted once.

    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/analysis/confusion_matrix.py CONFIG results.pkl [--out-dir DIR] \
        [--iou-thr 0.5] [--score-thr 0.3] [--cfg-options ...]

Prints the counts with each class's recall and precision, and writes ``confusion_matrix.png``,
``.json`` and ``.md`` to ``--out-dir`` (default: beside the predictions). Rows are the
ground-truth classes and ``background`` (false positives), columns the predicted classes and
``missed`` (false negatives); the matching rule is in ``ghostdet/analysis/confusion.py``. The
predictions file is read without running code from it.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

import numpy as np
import ghostdet  # noqa: F401  (version guard, registrations, safe loading)
from ghostdet.analysis import format_confusion_table, save_confusion, test_set_confusion
from ghostdet.utils.cli import add_prediction_arguments, input_errors


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Confusion matrix of test predictions')
    add_prediction_arguments(parser)
    parser.add_argument('--out-dir', help='where to write confusion_matrix.png/.json/.md '
                        '(default: the predictions\' folder)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> np.ndarray:
    args = parse_args(argv)
    with input_errors():  # a bad path, a foreign or unsafe pickle: one line, exit 2
        matrix, classes = test_set_confusion(args.config, args.predictions, args.iou_thr,
                                             args.score_thr, args.cfg_options)
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.predictions))
    os.makedirs(out_dir, exist_ok=True)
    title = f'{osp.splitext(osp.basename(args.config))[0]}: test set'
    paths = save_confusion(matrix, classes, out_dir, args.iou_thr, args.score_thr, title)
    print(f'\nIoU >= {args.iou_thr:g}, score >= {args.score_thr:g}; rows: ground truth, '
          'columns: predictions\n')
    print(format_confusion_table(matrix, classes))
    print('\nwrote ' + ', '.join(paths.values()))
    return matrix


if __name__ == '__main__':
    main()
