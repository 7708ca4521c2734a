"""Compare two prediction files of the same test set detection by detection, e.g. a checkpoint's
and its ONNX export's:

    python tools/test.py CONFIG CHECKPOINT --out checkpoint.pkl
    python tools/test.py CONFIG model.onnx --out onnx.pkl
    python tools/analysis/compare_predictions.py checkpoint.pkl onnx.pkl --config CONFIG \
        [--score-tol 1e-4] [--box-tol 0.01] [--score-thr 0] [--show 10]

Pairs each detection with a *twin* in the other file (same image and class, score within
``--score-tol``, every box coordinate within ``--box-tol`` pixels), prints how many have one,
the twins' largest differences and the detections without one (the rule, and the detections
"at the cut" that a tie in the scores may keep out of one file's top ``max_per_img``, are in
``ghostdet/study/twins.py``; ``--config`` gives the models' own score threshold, so that
ties at it count as such). Exits 0 when every detection has a twin or is at the cut, 1
otherwise (as ``cmp`` does), 2 on bad input. The files are read without running code from them.
"""
import argparse
import os.path as osp
from typing import List, Optional

import ghostdet  # noqa: F401  (version guard, registrations, safe loading)
from ghostdet.apis import load_config
from ghostdet.study import compare_predictions, config_score_thr, format_prediction_diff
from ghostdet.utils.checkpoint import load_predictions
from ghostdet.utils.cli import fraction, input_errors, non_negative_float, positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pair the detections of two tools/test.py --out files')
    parser.add_argument('first', help='a .pkl of tools/test.py --out (e.g. the checkpoint\'s)')
    parser.add_argument('second', help='another, on the same images (e.g. the ONNX file\'s)')
    parser.add_argument('--score-tol', type=non_negative_float, default=1e-4,
                        help='largest score difference of twins (default 1e-4)')
    parser.add_argument('--box-tol', type=non_negative_float, default=0.01,
                        help='largest box-coordinate difference of twins, in pixels '
                        '(default 0.01)')
    parser.add_argument('--config',
                        help='the config both files were tested with: its model.test_cfg.'
                        'score_thr (the threshold the models cut at) is the least --score-thr, '
                        'so that ties at it count as ties')
    parser.add_argument('--score-thr', type=fraction, default=0.0,
                        help='leave out detections scoring below this in both files; ties at '
                        'it count as ties (default 0, or the --config\'s threshold)')
    parser.add_argument('--show', type=positive_int, default=10,
                        help='detections without a twin listed per file (default 10)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    names = (osp.basename(args.first), osp.basename(args.second))
    if names[0] == names[1]:
        names = (args.first, args.second)
    with input_errors():  # a bad path, a foreign or unsafe pickle, other images: one line, exit 2
        score_thr = args.score_thr
        if args.config:
            model_thr = config_score_thr(load_config(args.config))
            print(f'the models\' score threshold (--config): {model_thr:g}')
            score_thr = max(score_thr, model_thr)
        diff = compare_predictions(load_predictions(args.first), load_predictions(args.second),
                                   args.score_tol, args.box_tol, score_thr, names)
    print(format_prediction_diff(diff, names, args.score_tol, args.box_tol, args.show))
    return 0 if diff.same else 1


if __name__ == '__main__':
    raise SystemExit(main())
