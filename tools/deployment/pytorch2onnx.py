"""Export a single-stage detector (backbone, neck and head, before box decoding and NMS) to
ONNX, with dynamic batch size and image size (or ``--static``), and check it against PyTorch
in onnxruntime.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out model.onnx [--shape H W] \
        [--static] [--opset N]

Then evaluate the exported model exactly as the checkpoint (boxes decoded and NMS-ed by the
config's head in Python), or time it against PyTorch:

    python tools/test.py CONFIG model.onnx
    python tools/analysis/benchmark.py CONFIG CHECKPOINT --mode network --onnx model.onnx
"""
import argparse
from typing import List, Optional

from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, safe checkpoint loading, registrations)
from ghostdet.deployment import export_detector
from ghostdet.utils.cli import input_errors, positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a single-stage detector to ONNX')
    parser.add_argument('config', help='config file (or mmdet::... path)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument(
        '--shape', type=positive_int, nargs=2, default=[800, 1333], metavar=('H', 'W'),
        help='image size to trace with (the file takes any size; default 800 1333)')
    parser.add_argument(
        '--static', action='store_true',
        help='fix the input to one image of --shape (padded as the data preprocessor pads), '
        'for runtimes and converters that need static shapes')
    parser.add_argument('--opset', type=positive_int, default=None,
                        help='ONNX opset (default: the exporter\'s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    print(f'exporting {args.config} traced at {args.shape[0]}x{args.shape[1]} with torch.onnx '
          '(dynamo), then checking it in onnxruntime')
    with input_errors():
        report = export_detector(args.config, args.checkpoint, args.out, args.shape,
                                 args.cfg_options, args.opset, args.static)
    print(f'wrote {report["path"]} ({report["size_mb"]:.1f} MB, opset {report["opset"]}): '
          f'input img {report["input"]}, '
          f'outputs {", ".join(f"{name} x{levels}" for name, levels in report["groups"])}')
    checked_on = 'other images' if args.static else 'another shape and batch size'
    print(f'checked in onnxruntime on {checked_on}: outputs within '
          f'{report["check_diff"]:.2g} of PyTorch\'s (relative to their magnitude)')
    return report


if __name__ == '__main__':
    main()
