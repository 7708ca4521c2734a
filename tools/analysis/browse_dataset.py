"""Look at a dataset as the model gets it, before training on it: the first images of a split
after its pipeline (resize, flips, crops, ...), each with its ground-truth boxes and classes
drawn, and ``overview.png``, all of them in one grid.

    python tools/analysis/browse_dataset.py CONFIG [--split train|val|test] [--num-images 16]
        [--out-dir DIR] [--seed 0] [--cfg-options ...]

Pictures are named by the image's path under the dataset's image folder; the random
augmentations are drawn from ``--seed``. Default ``--out-dir``:
``work_dirs/<config name>/browse_<split>``.
"""
import argparse
import os.path as osp
from typing import List, Optional

from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, registrations)
from ghostdet.analysis.browse import SPLITS, browse_dataset
from ghostdet.utils.cli import input_errors, positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw a split\'s images after its pipeline, with their ground-truth boxes')
    parser.add_argument('config', help='config file (or mmdet::... path)')
    parser.add_argument('--split', choices=SPLITS, default='train',
                        help='the dataloader whose dataset and pipeline to draw (default train)')
    parser.add_argument('--num-images', type=positive_int, default=16,
                        help='how many images, from the first (default 16)')
    parser.add_argument('--out-dir', help='where to write the pictures (default '
                        'work_dirs/<config name>/browse_<split>)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random augmentations (default 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. the dataset\'s data_root')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> list:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0], f'browse_{args.split}')
    with input_errors():  # a bad path or option: one line, exit 2
        records = browse_dataset(args.config, out_dir, args.split, args.num_images, args.seed,
                                 args.cfg_options)
    boxes = sum(len(r['boxes']) for r in records)
    empty = [osp.relpath(r['picture'], out_dir) for r in records if not r['boxes']]
    print(f'\ndrew {len(records)} {args.split} images after the {args.split} pipeline, '
          f'{boxes} boxes, to {out_dir}; all of them: {osp.join(out_dir, "overview.png")}')
    if empty:
        print(f'{len(empty)} with no box: {", ".join(empty)}')
    return records


if __name__ == '__main__':
    main()
