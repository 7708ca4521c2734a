"""Evaluate a checkpoint: COCO bbox metrics, raw results, pictures with boxes.

    python tools/test.py CONFIG CHECKPOINT [--out results.pkl] [--show-dir vis/] [--fuse-conv-bn]
                         [--tta]
    python tools/test.py CONFIG model.onnx [--out results.pkl] [--show-dir vis/]

``--fuse-conv-bn`` evaluates the model with each BatchNorm folded into the convolution before
it, as deployment runs it (the fold is checked first). ``--tta`` tests with test-time
augmentation: the config's ``tta_model`` and ``tta_pipeline``, else each image as it is and
flipped left-right, the boxes merged by NMS (mmdet's ``DetTTAModel``). A CHECKPOINT ending
in ``.onnx`` (``tools/deployment/pytorch2onnx.py``) is run in onnxruntime, its boxes decoded
and NMS-ed by the config's head.
"""
import argparse

from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, safe checkpoint loading, registrations)
from ghostdet.apis.runner import build_test_config, check_config_inputs, test
from ghostdet.deployment import build_onnx_test_config
from ghostdet.utils.cli import input_errors


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file (or mmdet::... path)')
    parser.add_argument('checkpoint', help='checkpoint file, or an exported .onnx model')
    parser.add_argument('--work-dir', help='the dir to save the metrics and logs')
    parser.add_argument('--out', help='dump the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='save pictures with the predicted boxes here')
    parser.add_argument(
        '--fuse-conv-bn', action='store_true',
        help='fold each BatchNorm into the convolution before it, as deployment does')
    parser.add_argument(
        '--tta', action='store_true',
        help="test-time augmentation: the config's tta_model and tta_pipeline, else each image "
        'as it is and flipped left-right')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. test_evaluator.classwise=True')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    with input_errors():  # a bad path or option: one line, exit 2; testing keeps tracebacks
        # an exported .onnx file runs in onnxruntime, a checkpoint in PyTorch
        build = build_onnx_test_config if args.checkpoint.endswith('.onnx') else build_test_config
        cfg = build(args.config, args.checkpoint, args.work_dir, args.out, args.show_dir,
                    args.cfg_options, args.launcher, args.fuse_conv_bn, args.tta)
        # test data, neck and head classes
        check_config_inputs(cfg, args.config, ('test_dataloader',))
    return test(cfg)


if __name__ == '__main__':
    main()
