"""Quantize a file written by ``pytorch2onnx.py`` to int8 (onnxruntime static quantization),
calibrated on images of the config's dataset.

    python tools/deployment/quantize_onnx.py CONFIG model.onnx --out model_int8.onnx \
        [--images 64] [--split train|val|test | --image-dir PATH] [--per-tensor] \
        [--op-types Conv ...]

Weights become int8 within [-64, 64], so that CPUs with and without VNNI compute the same
(one scale per output channel unless ``--per-tensor``), activations uint8, with ranges from
the float graph's min/max over ``--images`` images of ``--split`` (default train, so the test
split stays held out), or of ``--image-dir`` (unlabelled images, e.g. frames from the camera
it will run on), through the config's test pipeline. Every operator onnxruntime can quantize
is, unless ``--op-types`` names some. Then measure what it costs in mAP and what it gains in
speed:

    python tools/test.py CONFIG model_int8.onnx
    python tools/analysis/benchmark.py CONFIG CHECKPOINT --mode network --onnx model.onnx \
        model_int8.onnx
"""
import argparse
from typing import List, Optional

from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, registrations)
from ghostdet.deployment import quantize_detector
from ghostdet.utils.cli import input_errors, positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Quantize an exported detector to int8')
    parser.add_argument('config', help='the config the file was exported from')
    parser.add_argument('onnx', help='the float .onnx file written by pytorch2onnx.py')
    parser.add_argument('--out', required=True, help='the int8 .onnx file to write')
    parser.add_argument('--images', type=positive_int, default=64,
                        help='calibration images, spread over the split (default 64)')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--split', choices=['train', 'val', 'test'], default='train',
                        help='the dataset split to calibrate on (default train)')
    source.add_argument(
        '--image-dir', default=None, metavar='PATH',
        help='calibrate on these images instead of a split: a folder, a file or a glob '
        'pattern (unlabelled will do)')
    parser.add_argument('--per-tensor', action='store_true',
                        help='one scale per weight tensor instead of per output channel')
    parser.add_argument('--op-types', nargs='+', metavar='OP',
                        help='quantize only these ONNX operator types, e.g. Conv (default: '
                        'all that onnxruntime can)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (e.g. the dataset\'s data_root)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    source = args.image_dir or f'the {args.split} split of {args.config}'
    print(f'quantizing {args.onnx} to int8, calibrated on up to {args.images} images of '
          f'{source}', flush=True)
    with input_errors():
        report = quantize_detector(args.config, args.onnx, args.out, args.images, args.split,
                                   not args.per_tensor, args.cfg_options,
                                   progress=lambda line: print(line, flush=True),
                                   image_dir=args.image_dir, op_types=args.op_types)
    print(f'wrote {report["path"]} ({report["size_mb"]:.1f} MB, the float file '
          f'{report["src_size_mb"]:.1f} MB): {report["quantized_nodes"]} tensors quantized, '
          f'calibrated on {report["images"]} images')
    print(f'on the first calibration image its outputs differ from the float file\'s by up to '
          f'{report["output_diff"]:.2g} of their magnitude; its mAP: '
          f'python tools/test.py {args.config} {args.out}')
    return report


if __name__ == '__main__':
    main()
