"""Train a detector from a config.

    python tools/train.py configs/ghostnet/retinanet_ghostnet-1.1x_fpn_1x_coco.py
    python tools/train.py CONFIG --resume              # from the latest checkpoint in work_dir
    python tools/train.py CONFIG --resume work_dirs/x/iter_200.pth
    bash tools/dist_train.sh CONFIG 8 [--amp ...]     # several GPUs (torchrun)
"""
import argparse

from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, safe checkpoint loading, registrations)
from ghostdet.apis.runner import build_train_config, check_config_inputs, train
from ghostdet.utils.cli import input_errors


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file (or mmdet::... path)')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None,
        help='resume from the latest checkpoint in the work dir (no value) or from the given '
        'checkpoint; nothing already trained is repeated')
    parser.add_argument('--amp', action='store_true', help='mixed precision training (CUDA)')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr by the actual batch size / auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_dataloader.batch_size=4')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with input_errors():  # a bad path or option: one line, exit 2; training keeps tracebacks
        cfg = build_train_config(args.config, args.work_dir, args.resume, args.amp,
                                 args.auto_scale_lr, args.cfg_options, args.launcher)
        # train and val data, Pretrained weights and load_from, neck and head classes
        check_config_inputs(cfg, args.config, weights=True)
    train(cfg)


if __name__ == '__main__':
    main()
