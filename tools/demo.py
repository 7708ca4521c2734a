"""Detect objects in images and draw them.

    python tools/demo.py IMAGES CONFIG CHECKPOINT [--out-dir demo_out] [--device cpu]
                         [--score-thr 0.3] [--fuse-conv-bn] [--channels-last] [--fp16]
                         [--cuda-graph]

IMAGES is an image, a folder or a glob ('data/*.jpg', 'frames/**/*.jpg'). Writes pictures
with boxes to OUT_DIR/vis/ (under their paths from the images' common folder where two share a
file name) and the boxes, labels and scores to OUT_DIR/predictions.json. An image that cannot
be read is named and skipped; the exit code is then 1 (0 when every image was read). Stopped
(Ctrl-C, SIGTERM), it still writes predictions.json for the images done; while it runs, it
rewrites that file every 30 s, so a SIGKILL loses at most the last 30 s of detections.
The inference options (``ghostdet.models.inference_options``; ``--fp16`` and ``--cuda-graph``
need ``--device cuda``) are each checked against the fp32 eager outputs before the first image.
"""
import argparse
import signal

import ghostdet  # noqa: F401  (version guard, safe checkpoint loading, registrations)
from ghostdet.apis import check_demo_inputs, init_demo_model, run_demo
from ghostdet.deployment import init_onnx_detector
from ghostdet.models import InferenceOptions
from ghostdet.utils.cli import (INFERENCE_FLAGS, add_inference_arguments, fraction,
                                inference_flags, input_errors, torch_device)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Image demo')
    parser.add_argument('inputs', nargs='+', help='image file(s), folder(s) or glob(s)')
    parser.add_argument('config', help='config file (or mmdet::... path)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', default='demo_out', help='output folder')
    parser.add_argument('--device', type=torch_device, default='cpu',
                        help='cpu, cuda or cuda:N (default cpu)')
    parser.add_argument('--score-thr', type=fraction, default=0.3, help='box score threshold')
    add_inference_arguments(parser)
    args = parser.parse_args(argv)
    args.options = InferenceOptions(**inference_flags(args))
    given = [flag for flag, name in INFERENCE_FLAGS.items() if name in args.options.enabled]
    if given and args.checkpoint.endswith('.onnx'):
        parser.error(f'{" ".join(given)}: options of a PyTorch model; an ONNX model runs as it '
                     'was exported')
    try:
        args.options.check_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    return args


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds run_demo, which writes what it has detected


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    with input_errors():  # a bad path or threshold, weights or neck that do not fit: one line
        images = check_demo_inputs(args.config, args.checkpoint, args.inputs, args.score_thr)
        # an exported .onnx file runs in onnxruntime, a checkpoint in PyTorch
        if args.checkpoint.endswith('.onnx'):
            model = init_onnx_detector(args.config, args.checkpoint, args.device)
        else:
            model = init_demo_model(args.config, args.checkpoint, args.device, args.options)
    predictions = run_demo(args.config, args.checkpoint, images, args.out_dir, args.device,
                           args.score_thr, model=model)
    return 0 if len(predictions) == len(images) else 1  # 1: some were unreadable


if __name__ == '__main__':
    raise SystemExit(main())
