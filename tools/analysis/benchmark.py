"""Inference speed of one detector on synthetic images (no dataset).

    python tools/analysis/benchmark.py CONFIG [CHECKPOINT] [--device cpu|cuda] \
        [--batch-size B] [--shape H W] [--runs N] [--warmup N] [--amp] \
        [--mode predict|tensor|network] [--proposals N] [--fuse-conv-bn] [--channels-last] \
        [--fp16] [--cuda-graph] [--onnx FILE ...] [--export-onnx]

Reports ms/image (median, p10-p90 spread) and images/s. ``--mode predict`` (default) times what
``model.predict`` does after the data preprocessor: network, box decoding and NMS; the
post-processing cost depends on the weights, so give a CHECKPOINT for representative numbers.
``--mode tensor`` times ``model(..., mode='tensor')``, the network without the final
post-processing (for two-stage detectors that includes the RPN's proposals and the RoI head on
them). ``--mode network`` times ``DetectorNetwork``: no decoding or NMS at all, a two-stage RoI
head on ``--proposals`` fixed synthetic RoIs per image, so the work does not depend on weights.
``--fuse-conv-bn`` also times a copy with each BatchNorm folded into the convolution before it,
as deployment does, after checking the fold (on a copy with random BatchNorm statistics, whose
folded outputs must equal its unfolded ones), and prints both rows and their ratio. The two are
timed side by side, one run of each in turn, so a drift of the machine reaches both alike.
``--channels-last``, ``--fp16`` and ``--cuda-graph`` (the last two with ``--device cuda``) also
time a copy with those inference options (``ghostdet.models.inference_options``; with
``--fuse-conv-bn`` the fold too), checked first against the model's fp32 eager outputs on the
timed input and on a second random batch of its shape, side by side with the model as built.
``--amp`` times every row under autocast, entered once around all the runs (so each weight is
cast once); ``--fp16`` instead holds fp16 weights and casts nothing while it runs.
``--onnx FILE ...`` (``--mode network``, CPU) also times each model exported to FILE by
``tools/deployment/pytorch2onnx.py`` in onnxruntime, with as many threads as torch, side by side
with the PyTorch network it computes (backbone, neck, head; no decoding or NMS). FILE must
compute what CONFIG with CHECKPOINT computes (checked on the timed input); an int8 file
(``tools/deployment/quantize_onnx.py``) must have its outputs (number and shapes), and its row
says int8. ``--export-onnx`` exports the model itself (random weights will do) to a temporary
float file and an int8 copy calibrated on synthetic images, and times both: int8's speed on
any config, without a dataset (its accuracy needs ``tools/deployment/quantize_onnx.py`` on real
images and ``tools/test.py``).
"""
import argparse
import tempfile
from typing import List, Optional

from mmengine.config import DictAction

import ghostdet  # noqa: F401  (version guard, registrations)
from ghostdet.analysis import LatencyResult, benchmark_modules, format_latency_table, num_threads
from ghostdet.apis import build_detector
from ghostdet.deployment import ONNXNetwork, check_exported_from, export_for_timing
from ghostdet.models import (DetectorNetwork, InferenceOptions, accelerated_copy, fuse_conv_bn,
                             synthetic_batch)
from ghostdet.utils.cli import (add_inference_arguments, inference_flags, input_errors,
                                non_negative_int, positive_int, torch_device)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Inference speed of a detector')
    parser.add_argument('config', help='config file (or mmdet::... path)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (default: random weights)')
    parser.add_argument('--device', type=torch_device, default='cpu',
                        help='cpu or cuda[:N] (default cpu)')
    parser.add_argument('--batch-size', type=positive_int, default=1,
                        help='images per run (default 1)')
    parser.add_argument(
        '--shape', type=positive_int, nargs=2, default=[800, 1333], metavar=('H', 'W'),
        help='image height and width, padded to the data preprocessor\'s pad_size_divisor '
        '(default 800 1333)')
    parser.add_argument('--runs', type=positive_int, default=20, help='timed runs (default 20)')
    parser.add_argument('--warmup', type=non_negative_int, default=5,
                        help='warm-up runs (default 5)')
    parser.add_argument('--amp', action='store_true',
                        help='CUDA fp16 autocast (entered once around all the runs)')
    parser.add_argument(
        '--mode', choices=['predict', 'tensor', 'network'], default='predict',
        help='predict: with post-processing (default); tensor: without the final one; '
        'network: no post-processing, fixed RoIs')
    parser.add_argument('--proposals', type=positive_int, default=1000,
                        help='RoIs per image of --mode network (default 1000)')
    parser.add_argument(
        '--fuse-conv-bn', action='store_true',
        help='also time the model with each BatchNorm folded into the convolution before it '
        '(the fold checked to keep the outputs) and print the ratio')
    add_inference_arguments(parser, fuse_conv_bn=False,
                            suffix='; also time a copy with it, checked first')
    parser.add_argument(
        '--onnx', nargs='+', default=None, metavar='FILE',
        help='also time these exported models (float or int8) in onnxruntime (with --mode '
        'network, on CPU)')
    parser.add_argument(
        '--export-onnx', action='store_true',
        help='also export this model to ONNX, float and int8 (calibrated on synthetic images: '
        'for timing only), and time both in onnxruntime (with --mode network, on CPU)')
    parser.add_argument('--threads', type=positive_int, default=None,
                        help='torch CPU threads (default: torch\'s default)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.test_cfg.score_thr=0.3')
    args = parser.parse_args(argv)
    if args.amp and not args.device.startswith('cuda'):
        parser.error('--amp (fp16 autocast) needs --device cuda')
    args.options = InferenceOptions(**inference_flags(args))
    try:
        args.options.check_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    if args.amp and args.fp16:
        parser.error('--amp and --fp16 both cast to fp16: --amp times every row under autocast, '
                     '--fp16 a copy with fp16 weights; time them in separate runs')
    for flag, given in (('--onnx', args.onnx), ('--export-onnx', args.export_onnx)):
        if given and (args.mode != 'network' or args.device != 'cpu'):
            parser.error(f'{flag} times the network only, on onnxruntime\'s CPU provider: use '
                         'it with --mode network and --device cpu')
    return args


def main(argv: Optional[List[str]] = None) -> List[LatencyResult]:
    """Returns the timings: the model as built, then (``--fuse-conv-bn``) its folded copy,
    then (``--channels-last``, ``--fp16``, ``--cuda-graph``) its copy with those options,
    then (``--onnx``) the exported models in onnxruntime, then (``--export-onnx``) the float
    and int8 files exported from the model."""
    args = parse_args(argv)
    with num_threads(args.threads), tempfile.TemporaryDirectory() as tmp:
        with input_errors():  # a bad path or option: one line, exit 2
            model = build_detector(args.config, args.cfg_options, args.checkpoint, args.device)
        inputs, samples = synthetic_batch(model, args.shape, args.batch_size)
        print(f'{args.config}: {type(model).__name__}, '
              f'{"checkpoint " + args.checkpoint if args.checkpoint else "random weights"}, '
              f'input {"x".join(str(s) for s in inputs.shape)} '
              f'(requested {args.shape[0]}x{args.shape[1]}), mode={args.mode}', flush=True)
        models = [(f'{type(model).__name__} ({args.mode})', model)]
        if args.fuse_conv_bn:
            with input_errors():  # a model mmcv cannot fold: one line, exit 2
                fused, folded, diff = fuse_conv_bn(model, inputs)
            print(f'folded {folded} BatchNorm layers into the convolutions before them; with '
                  f'random BatchNorm statistics the folded outputs differ by at most '
                  f'{diff:.2g} of their magnitude', flush=True)
            models.append((f'{models[0][0]}, BatchNorm folded', fused))
        if set(args.options.enabled) - {'fuse_bn'}:
            second = synthetic_batch(model, args.shape, args.batch_size, seed=1)[0]
            with input_errors():  # an option that changes the outputs: named, exit 2
                fast, report = accelerated_copy(model, args.options, inputs=[inputs, second],
                                                num_proposals=min(args.proposals, 100))
            print(report.summary(), flush=True)
            models.append((f'{models[0][0]}, {args.options}', fast))
        timing = dict(runs=args.runs, warmup=args.warmup, device=args.device, amp=args.amp)
        if args.mode == 'network':  # side by side, run by run (one model: just timed)
            networks = [(name, DetectorNetwork(net, args.proposals)) for name, net in models]
            files = []
            for path in args.onnx or []:
                with input_errors():  # not a file, not ours, not this model: one line, exit 2
                    network = ONNXNetwork(path)
                    check_exported_from(model, network, inputs)
                files.append((path, network))
            if args.export_onnx:  # checked as they are written
                calibration = [synthetic_batch(model, args.shape, seed=seed)[0]
                               for seed in range(1, 5)]
                with input_errors():  # e.g. a two-stage detector: one line, exit 2
                    exported = export_for_timing(model, tmp, inputs, calibration)
                files += [('exported', ONNXNetwork(path)) for path in exported]
            precisions = [''] * len(networks)
            for label, network in files:
                quantized = network.meta.get('quantized')
                precisions.append('int8' if quantized else '')
                networks.append((f'onnxruntime{" int8" if quantized else ""} ({label})',
                                 network))
            results = benchmark_modules(networks, inputs, precisions=precisions, **timing)
        else:
            results = benchmark_modules(models, (inputs, samples), mode=args.mode, **timing)
    if len(results) == 1:
        print(results[0].summary())
    else:
        print(format_latency_table(results, baseline=results[0].name))
    if args.export_onnx:
        exported_float, exported_int8 = results[-2:]
        print(f'int8 took {exported_int8.ms_per_image / exported_float.ms_per_image:.2f}x of '
              'the float file\'s time in onnxruntime')
    return results


if __name__ == '__main__':
    main()
