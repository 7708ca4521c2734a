"""Train several detectors the same way, test them, measure them, publish one report.

    python tools/study.py [CONFIG ...] [--work-root work_dirs/bccd_study] [--parallel N] \
        [--amp] [--stages train test measure report] [--report docs/results_bccd.md] \
        [--time-limit SECONDS] [--pack runs.tar.gz] [--run-by-run]

Default: the BCCD configs (``configs/bccd/*.py``; convert BCCD first, see
``configs/_base_/datasets/bccd.py``), reported to ``docs/results_bccd.md`` with the picture
``docs/images/results_bccd.jpg``, the learning curves ``docs/images/results_bccd_curves.png``
and log summaries in ``docs/logs/``. Every stage resumes: run the same command again after a
kill and only the unfinished work is done (a training in progress continues from its newest
checkpoint). ``--parallel N`` trains N detectors at once;
on the H200, eight BCCD trainings at once took as long in total as one after another (our
reading: the GPU time-slices between processes). Speed is always measured one model at a time
afterwards.

On a machine held for a limited time (a rented GPU, a queue's wall-time limit), ``--time-limit
SECONDS`` stops the stages cleanly in time (trainings continue from their newest checkpoint
next time; exit code 3 while work is left; a warning if a call finished nothing) and
``--pack FILE.tar.gz`` writes the runs without their checkpoints, which is all ``--stages
report`` needs elsewhere. The stages go train-all, test-all, measure-all; where checkpoints are
lost with the machine, ``--run-by-run`` trains, tests and measures each run before the next
(and rewrites the pack after each), so time running out costs only the run in progress.
"""
import argparse
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import List, Optional

import torch
from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, registrations, safe checkpoint loading)
from ghostdet.study.report import (check_trained_options, learning_curves, side_by_side,
                                   write_report)
from ghostdet.study.study import STAGES, Study
from ghostdet.utils.cli import non_negative_int, positive_float, positive_int, torch_device

REPO = Path(__file__).resolve().parents[1]
BCCD_TITLE = ('BCCD: GhostNet vs MobileNetV3 and MobileNetV2 detectors trained from scratch, '
              'same budget')
BCCD_INTRO = """\
Detectors trained **from scratch** on BCCD (364 real microscope photos of blood cells, 3
classes, MIT licence; train 205 / val 87 / test 72 images): no ImageNet or COCO weights can be
downloaded here, so every backbone starts from random weights, with the same schedule, input
size, augmentation and seed. BCCD is small and easy next to COCO: the numbers compare the
backbones with each other under one budget; they do not predict COCO accuracy."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train, test and measure detectors the same way; write one report')
    parser.add_argument('configs', nargs='*', help='configs (default: configs/bccd/*.py)')
    parser.add_argument('--work-root', default='work_dirs/bccd_study',
                        help='parent of the runs\' work dirs (default work_dirs/bccd_study)')
    parser.add_argument('--stages', nargs='+', choices=STAGES, default=list(STAGES),
                        help='stages to run (default: all)')
    parser.add_argument('--parallel', type=positive_int, default=1,
                        help='trainings at once (default 1)')
    parser.add_argument('--run-by-run', action='store_true',
                        help='train, test and measure each run before the next starts, not '
                        'stage by stage, and rewrite --pack after each (for a machine whose '
                        'files are lost with it)')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training (CUDA)')
    parser.add_argument('--device', type=torch_device, default=None,
                        help='device of the measure stage (default cuda if present, else cpu)')
    parser.add_argument('--shape', type=positive_int, nargs=2, default=[480, 640],
                        metavar=('H', 'W'),
                        help='input of the MACs and speed measurements (default 480 640)')
    parser.add_argument('--batch-sizes', type=positive_int, nargs='+', default=[1, 8],
                        help='inference batch sizes (default 1 8)')
    parser.add_argument('--runs', type=positive_int, default=50,
                        help='timed runs per speed (default 50)')
    parser.add_argument('--warmup', type=non_negative_int, default=10,
                        help='warm-up runs (default 10)')
    parser.add_argument('--threads', type=positive_int, default=None, help='torch CPU threads')
    parser.add_argument('--remeasure', action='store_true',
                        help='measure again runs that were measured already')
    parser.add_argument('--report', default='docs/results_bccd.md', help='markdown report')
    parser.add_argument('--picture', default='docs/images/results_bccd.jpg',
                        help='side-by-side picture of one test image; the format follows the '
                        'extension (default JPEG: the BCCD photos make a PNG four times larger). '
                        'What it draws is written beside it, with a .json extension')
    parser.add_argument('--curves', default='docs/images/results_bccd_curves.png',
                        help='learning curves (training loss and val mAP per epoch)')
    parser.add_argument('--image', default=None, help='file name of that test image '
                        '(default: the first test image)')
    parser.add_argument('--logs-dir', default='docs/logs', help='training log summaries')
    parser.add_argument('--title', default=None,
                        help='report title (default: the BCCD one for the BCCD configs)')
    parser.add_argument('--intro', default=None,
                        help='report introduction (default: the BCCD one for the BCCD configs)')
    parser.add_argument('--every', type=positive_float, default=30.0,
                        help='seconds between progress lines (default 30)')
    parser.add_argument('--time-limit', type=positive_float, default=None, metavar='SECONDS',
                        help='stop the train, test and measure stages after this many seconds '
                        '(a machine held for a limited time); run the same command again to '
                        'go on (exit code 3 until then)')
    parser.add_argument('--pack', default=None, metavar='FILE.tar.gz',
                        help='at the end, also after --time-limit, write the runs without '
                        'their checkpoints to this tar.gz (unpack with mkdir -p WORK_ROOT; '
                        'tar xzf FILE -C WORK_ROOT where the report is assembled)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='overrides for every config, e.g. train_cfg.max_epochs=1 or a data path')
    args = parser.parse_args(argv)
    if args.amp and not torch.cuda.is_available():
        parser.error('--amp needs a CUDA device; none is available here')
    if args.run_by_run and args.parallel > 1:
        parser.error('--run-by-run trains one run at a time; it cannot take --parallel '
                     f'{args.parallel}')
    return args


TIME_LIMIT_EXIT = 3


class TimeLimitReached(Exception):
    """``--time-limit`` has passed."""


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds run_jobs, which stops the trainings it started


def _time_up(signum: int, frame: object) -> None:
    raise TimeLimitReached  # unwinds like _stop, but the study packs and says what is left


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    configs = args.configs or sorted(str(p.relative_to(REPO))
                                     for p in (REPO / 'configs' / 'bccd').glob('*.py'))
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    command = 'python tools/study.py ' + ' '.join(
        shlex.quote(str(a)) for a in (sys.argv[1:] if argv is None else argv))
    study = Study(configs, args.work_root, cfg_options=args.cfg_options, amp=args.amp,
                  parallel=args.parallel, device=device, shape=args.shape,
                  batch_sizes=args.batch_sizes, runs=args.runs, warmup=args.warmup,
                  threads=args.threads, every_s=args.every, command=command)
    failed, start, timed_out, marks = {}, time.time(), False, study.marks()
    if args.time_limit is not None:
        signal.signal(signal.SIGALRM, _time_up)
        signal.setitimer(signal.ITIMER_REAL, args.time_limit)
    try:
        parts = study.by_run() if args.run_by_run else [study]
        for part in parts:
            if 'train' in args.stages:
                failed.update({k: v for k, v in part.train().items() if v != 0})
            if 'test' in args.stages:
                failed.update({k: v for k, v in part.test().items() if v != 0})
            if 'measure' in args.stages:
                part.measure(force=args.remeasure)
            if args.pack and part is not parts[-1]:  # kept if the machine goes before the end
                study.pack(Path(args.pack))  # (the last run is in the pack written below)
    except TimeLimitReached:
        timed_out = True
        print(f'time limit: stopped after {time.time() - start:.0f} s (--time-limit '
              f'{args.time_limit:g}); what was saved stays: run the same command again to go on',
              flush=True)
        if study.marks() == marks:
            print(f'warning: this call finished nothing and saved no checkpoint: a step takes '
                  f'longer than --time-limit {args.time_limit:g} s; raise it', flush=True)
    finally:
        if args.time_limit is not None:
            signal.signal(signal.SIGALRM, signal.SIG_IGN)  # a late alarm must not cut the rest
            signal.setitimer(signal.ITIMER_REAL, 0)
    if args.pack:
        packed = study.pack(Path(args.pack))
        print(f'packed {len(packed)} run(s) without checkpoints into {args.pack} '
              f'({Path(args.pack).stat().st_size / 1024:.0f} KiB)', flush=True)
    if any(stage != 'report' for stage in args.stages):
        print(study.standing(args.stages), flush=True)
    if 'report' in args.stages and not timed_out:
        check_trained_options(study)
        picture, image, curves = Path(args.picture), None, Path(args.curves)
        if any(r.train_done for r in study.runs_):
            image = side_by_side(study, picture, args.image)
        drew_curves = learning_curves(study, curves)
        bccd = all('bccd' in Path(c).stem for c in configs)
        title = args.title or (BCCD_TITLE if bccd else 'Study results')
        intro = args.intro if args.intro is not None else BCCD_INTRO if bccd else ''
        text = write_report(study, Path(args.report), command, picture if image else None,
                            image, Path(args.logs_dir), title, intro,
                            curves if drew_curves else None)
        print(text)
        drawn = [str(p) for p, drew in ((picture, image), (curves, drew_curves)) if drew]
        print(f'\nwrote {args.report}' + (f' and {" and ".join(drawn)}' if drawn else ''))
    if failed:
        print('failed runs: ' + ', '.join(f'{k} (exit {v})' for k, v in failed.items()),
              file=sys.stderr)
        return 1
    return TIME_LIMIT_EXIT if timed_out else 0


def cli() -> int:
    try:
        return main()
    except (FileNotFoundError, ValueError) as err:  # bad configs or data: no traceback
        print(f'error: {err}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(cli())
