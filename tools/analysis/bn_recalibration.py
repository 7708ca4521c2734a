"""Does a checkpoint's evaluation suffer from stale BN running statistics?

    python tools/analysis/bn_recalibration.py CONFIG CHECKPOINT [--work-dir DIR] \
        [--cfg-options KEY=VALUE ...]

Validates the checkpoint on the config's val split as trained, then again after recomputing
the backbone's BN running statistics over one pass of the training data (weights unchanged),
and prints both. A large gap means the running statistics lagged behind the weights (e.g. a
small BN momentum and few iterations) and evaluations of that training mislead.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, registrations, safe checkpoint loading)
from ghostdet.analysis.bn_stats import val_with_recomputed_bn
from ghostdet.apis.runner import build_run_config, build_runner, check_config_inputs
from ghostdet.utils.cli import input_errors


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Val metrics as trained vs with recomputed BN statistics')
    parser.add_argument('config', help='config file (or mmdet::... path)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', default=None,
                        help='where the logs go (default ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    with input_errors():  # one line, exit 2, before the validation pass
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
        cfg = build_run_config(args.config, args.work_dir, args.cfg_options)
        cfg.load_from = args.checkpoint
        check_config_inputs(cfg, args.config)  # train (the BN pass) and val data, neck, head
    result = val_with_recomputed_bn(build_runner(cfg))
    keys = [k for k in ('coco/bbox_mAP', 'coco/bbox_mAP_50') if k in result['as_trained']]
    keys = keys or sorted(result['as_trained'])
    print(f'\nBN statistics of {args.checkpoint}: {result["bn_layers"]} backbone BN layers '
          f'recomputed over {result["batches"]} training batches')
    print('| BN statistics | ' + ' | '.join(keys) + ' |')
    print('|---|' + '---:|' * len(keys))
    for label, metrics in (('as trained', result['as_trained']),
                           ('recomputed', result['recomputed'])):
        print(f'| {label} | ' + ' | '.join(f'{float(metrics[k]):.3f}' for k in keys) + ' |')
    return result


def cli() -> int:
    try:
        main()
    except (FileNotFoundError, ValueError) as err:  # bad paths or a model without BN
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(cli())
