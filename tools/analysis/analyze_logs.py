"""Training curves and iteration times of one or more runs, from the scalars mmengine logs.

    python tools/analysis/analyze_logs.py plot_curve WORK_DIR [WORK_DIR ...] \
        [--keys loss bbox_mAP] [--legend A B] [--out curves.png] [--title TITLE]
    python tools/analysis/analyze_logs.py cal_train_time WORK_DIR [WORK_DIR ...] \
        [--include-first]

A run is its work dir (every start of a resumed run is joined in order), one of its
timestamped folders, or a ``vis_data/scalars.json``. ``plot_curve`` draws one panel per key
(default: ``loss`` and the bbox mAP), training keys against the iteration and validation keys
against the epoch (or the iteration, in iteration-based runs), writes the picture to ``--out``
(default: ``curves.png`` in the first run's work dir) and prints each run's best and last
validation. A key may drop its evaluator's prefix (``bbox_mAP`` for ``coco/bbox_mAP``).
``cal_train_time`` prints seconds per iteration as logged: the mean, the slowest and fastest
epoch, the spread between epochs, and the share spent waiting for data.
"""
import argparse
from pathlib import Path
from typing import List, Optional

from ghostdet.study.logs import (best_validation, default_keys, plot_training_logs,
                                 read_training_log, resolve_key, train_time, work_dir_of)
from ghostdet.utils.cli import input_errors


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Curves and iteration times of training runs')
    commands = parser.add_subparsers(dest='command', required=True)
    plot = commands.add_parser('plot_curve', help='draw training and validation curves')
    plot.add_argument('runs', nargs='+', help='work dirs, timestamped folders or scalars.json')
    plot.add_argument('--keys', nargs='+', help='what to draw (default: loss and the bbox mAP)')
    plot.add_argument('--legend', nargs='+', help='a name per run (default: the work dirs\')')
    plot.add_argument('--out', help='the picture (default: curves.png in the first run\'s '
                      'work dir)')
    plot.add_argument('--title', help='a title above the panels')
    times = commands.add_parser('cal_train_time', help='print seconds per iteration')
    times.add_argument('runs', nargs='+', help='work dirs, timestamped folders or scalars.json')
    times.add_argument('--include-first', action='store_true',
                       help='count the first logged iteration of each epoch too (left out by '
                       'default: it carries the data loader\'s start-up)')
    args = parser.parse_args(argv)
    if getattr(args, 'legend', None) and len(args.legend) != len(args.runs):
        parser.error(f'--legend gives {len(args.legend)} names for '
                     f'{_count(len(args.runs), "run")}')
    return args


def plot_curve(args: argparse.Namespace) -> Path:
    names = args.legend or [None] * len(args.runs)
    with input_errors():
        logs = [read_training_log(run, name) for run, name in zip(args.runs, names)]
        keys = [resolve_key(logs, key) for key in args.keys or default_keys(logs)]
    out = args.out or work_dir_of(args.runs[0]) / 'curves.png'
    plot_training_logs(logs, keys, out, args.title)
    for log in logs:
        starts = f', {len(log.sources)} starts joined' if len(log.sources) > 1 else ''
        print(f'{log.name}: {_count(len(log.train), "logged iteration")}, '
              f'{_count(len(log.val), "validation")}{starts}')
        for key in keys:
            validation = key in log.val_keys and key not in log.train_keys
            found = best_validation(log, key) if validation else None
            if found:
                best, at, last, last_at = found
                print(f'  {key}: best {best:.4g} at {log.val_unit} {at}, last {last:.4g} '
                      f'at {log.val_unit} {last_at}')
    print(f'wrote {out}')
    return Path(out)


def cal_train_time(args: argparse.Namespace) -> None:
    for run in args.runs:
        with input_errors():
            log = read_training_log(run)
            stats = train_time(log, args.include_first)
        print(f'-----Analyze train time of {log.name}-----')
        if log.by_epoch:
            slowest, fastest = stats.slowest, stats.fastest
            print(f'slowest epoch {slowest[0]}, average time is {slowest[1]:.4f} s/iter')
            print(f'fastest epoch {fastest[0]}, average time is {fastest[1]:.4f} s/iter')
            print(f'time std over epochs is {stats.spread:.4f}')
        print(f'average iter time: {stats.mean:.4f} s/iter over {stats.records} logged '
              f'iterations, {100 * stats.data_share:.0f}% of it waiting for data')


def _count(number: int, noun: str) -> str:
    return f'{number} {noun}' + ('' if number == 1 else 's')


def main(argv: Optional[List[str]] = None) -> Optional[Path]:
    """Returns the picture's path (``plot_curve``)."""
    args = parse_args(argv)
    return {'plot_curve': plot_curve, 'cal_train_time': cal_train_time}[args.command](args)


if __name__ == '__main__':
    main()
