"""Evaluate a checkpoint: COCO bbox metrics, raw results, pictures with boxes.

    python tools/test.py CONFIG CHECKPOINT [--out results.pkl] [--show-dir vis/] [--fuse-conv-bn]
                         [--channels-last] [--fp16] [--cuda-graph] [--tta]
    python tools/test.py CONFIG model.onnx [--out results.pkl] [--show-dir vis/]

``--fuse-conv-bn`` evaluates the model with each BatchNorm folded into the convolution before
it, as deployment runs it (the fold is checked first). ``--channels-last``, ``--fp16`` and
``--cuda-graph`` (the last two CUDA only) evaluate the model as it runs with those inference
options (``ghostdet.models.inference_options``), each checked against the fp32 eager outputs
before the test starts. ``--tta`` tests with test-time
augmentation: the config's ``tta_model`` and ``tta_pipeline``, else each image as it is and
flipped left-right, the boxes merged by NMS (mmdet's ``DetTTAModel``). A CHECKPOINT ending
in ``.onnx`` (``tools/deployment/pytorch2onnx.py``) is run in onnxruntime, its boxes decoded
and NMS-ed by the config's head.
"""
import argparse

import torch
from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, safe checkpoint loading, registrations)
from ghostdet.apis.runner import build_test_config, check_config_inputs, test
from ghostdet.deployment import build_onnx_test_config
from ghostdet.models import InferenceOptions
from ghostdet.utils.cli import add_inference_arguments, inference_flags, input_errors


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file (or mmdet::... path)')
    parser.add_argument('checkpoint', help='checkpoint file, or an exported .onnx model')
    parser.add_argument('--work-dir', help='the dir to save the metrics and logs')
    parser.add_argument('--out', help='dump the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='save pictures with the predicted boxes here')
    add_inference_arguments(parser)
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
    args = parser.parse_args(argv)
    args.options = InferenceOptions(**inference_flags(args))
    others = [flag for flag in ('--channels-last', '--fp16', '--cuda-graph')
              if getattr(args, flag[2:].replace('-', '_'))]
    if others and args.checkpoint.endswith('.onnx'):
        parser.error(f'{" ".join(others)}: options of a PyTorch model; an ONNX model is tested '
                     'as it was exported')
    try:  # the test runs on CUDA where there is one
        args.options.check_device('cuda' if torch.cuda.is_available() else 'cpu')
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    with input_errors():  # a bad path or option: one line, exit 2; testing keeps tracebacks
        # an exported .onnx file runs in onnxruntime, a checkpoint in PyTorch
        if args.checkpoint.endswith('.onnx'):
            cfg = build_onnx_test_config(args.config, args.checkpoint, args.work_dir, args.out,
                                         args.show_dir, args.cfg_options, args.launcher,
                                         args.fuse_conv_bn, args.tta)
        else:
            cfg = build_test_config(args.config, args.checkpoint, args.work_dir, args.out,
                                    args.show_dir, args.cfg_options, args.launcher,
                                    args.fuse_conv_bn, args.tta, args.options)
        # test data, neck and head classes
        check_config_inputs(cfg, args.config, ('test_dataloader',))
    return test(cfg)


if __name__ == '__main__':
    main()
