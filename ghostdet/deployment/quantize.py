"""int8 quantization of a file written by :func:`~ghostdet.deployment.onnx.export_onnx`.

onnxruntime's static quantization: the convolution weights become int8 (one scale per output
channel by default) within [-64, 64], and the activations between them uint8, with ranges
calibrated by running the float graph on real images (min/max of each tensor over the
calibration images). The weights' reduced range keeps every pair of uint8 x int8 products
within the int16 sums that x86 CPUs without VNNI (AVX2, e.g. AMD EPYC before Zen 4) add them
in, so the file computes the same outputs on every x86 CPU. With full-range weights those sums
saturate there, and the outputs differ from the float file's several times more than on CPUs
with VNNI. The file keeps its ghostdet metadata, plus a ``quantized`` record, so
``tools/test.py CONFIG model_int8.onnx`` measures what quantizing costs in mAP, and
``tools/analysis/benchmark.py`` times it.

The calibration images come from a split of the config's dataset (or a folder of unlabelled
images) through its *test* pipeline and data preprocessor, i.e. as the deployed model will see
them. The default is the training split, so that the test split stays held out.
"""
import itertools
import json
import os
import os.path as osp
import tempfile
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .onnx import INPUT_NAME, METADATA_KEY, ONNXNetwork

SPLITS = ('train', 'val', 'test')


def _inner_dataset(dataset_cfg):
    """The dataset a wrapper (``RepeatDataset``, ``ClassBalancedDataset``, ...) wraps."""
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


class _ImageFiles:
    """Image files through a test pipeline: the samples of a dataset of unlabelled images
    (mmdet's ``LoadAnnotations`` loads no box where a sample has no ``instances``)."""

    def __init__(self, paths: List[str], pipeline: list, scope: str) -> None:
        from mmengine.dataset import Compose
        from mmengine.registry import DefaultScope

        self.paths = paths
        with DefaultScope.overwrite_default_scope(scope):
            self.pipeline = Compose(pipeline)

    def __len__(self) -> int:
        return len(self.paths)

    def get_data_info(self, index: int) -> dict:
        return dict(img_path=self.paths[index], img_id=index)

    def __getitem__(self, index: int) -> dict:
        return self.pipeline(self.get_data_info(index))


class CalibrationImages:
    """``num_images`` images of a config's ``split`` (or of ``image_dir``), spread evenly over
    it, each as a batch of one shaped as the data preprocessor outputs it (normalised, padded):
    what the deployed network is fed. The images go through the config's test pipeline,
    whatever the split. The dataset is read when this is made; the images when iterated
    (``len`` says how many).

    Args:
        config: The config (file, ``mmdet::`` path or Config).
        num_images (int): How many images at most. Defaults to 64.
        split (str): ``'train'``, ``'val'`` or ``'test'``: the dataloader whose dataset the
            images come from. Defaults to ``'train'``.
        cfg_options (dict, optional): Overrides merged into the config.
        image_dir (str, optional): Unlabelled images instead (a folder, a file or a glob
            pattern; e.g. frames from the camera the detector will run on). Defaults to None.

    Raises:
        ValueError: An unknown split, ``num_images`` < 1, or an empty dataset.
        FileNotFoundError: ``image_dir`` holds no image.
    """

    def __init__(self,
                 config,
                 num_images: int = 64,
                 split: str = 'train',
                 cfg_options: Optional[dict] = None,
                 image_dir: Optional[str] = None) -> None:
        from mmdet.registry import DATASETS
        from mmengine.registry import DefaultScope

        from ..apis.builder import load_config
        from ..apis.inference import collect_images
        from ..utils.registry import build_model

        if split not in SPLITS:
            raise ValueError(f'split must be one of {", ".join(SPLITS)}, got {split!r}')
        if num_images < 1:
            raise ValueError(f'calibration needs at least one image, got {num_images}')
        cfg = load_config(config, cfg_options)
        pipeline = _inner_dataset(cfg.test_dataloader.dataset).pipeline
        scope = cfg.get('default_scope', 'mmdet')
        self.preprocessor = build_model(cfg.model.data_preprocessor)
        if image_dir is not None:
            self.dataset = _ImageFiles(collect_images(image_dir), pipeline, scope)
            self.source = dict(image_dir=str(image_dir))
        else:
            dataset_cfg = dict(_inner_dataset(cfg[f'{split}_dataloader']['dataset']))
            dataset_cfg['pipeline'] = pipeline
            with DefaultScope.overwrite_default_scope(scope):
                self.dataset = DATASETS.build(dataset_cfg)
            self.source = dict(split=split)
            if len(self.dataset) == 0:
                raise ValueError(f'the {split} split of the config holds no images to '
                                 'calibrate on')
        count = min(num_images, len(self.dataset))
        self.indices = [int(i) for i in np.linspace(0, len(self.dataset) - 1, count).round()]

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[Tensor]:
        from mmengine.dataset import pseudo_collate

        for index in self.indices:
            with torch.no_grad():  # not around the yield: it would leave the caller without grad
                img = self.preprocessor(pseudo_collate([self.dataset[index]]), False)['inputs']
            yield img


class _Reader:
    """onnxruntime's ``CalibrationDataReader`` protocol over tensors, counting and reporting
    them."""

    def __init__(self, inputs: Iterable[Tensor], progress: Optional[Callable[[str], None]],
                 total: Optional[int]) -> None:
        self.inputs = iter(inputs)
        self.progress = progress
        self.total = total
        self.count = 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        img = next(self.inputs, None)
        if img is None:
            return None
        self.count += 1
        if self.progress is not None and (self.count % 8 == 0 or self.count == self.total):
            of = f'/{self.total}' if self.total else ''
            self.progress(f'calibration: {self.count}{of} images')
        return {INPUT_NAME: img.detach().to('cpu', torch.float32).contiguous().numpy()}


def quantize_onnx(src: str,
                  out: str,
                  inputs: Iterable[Tensor],
                  per_channel: bool = True,
                  total: Optional[int] = None,
                  calibration: Optional[dict] = None,
                  progress: Optional[Callable[[str], None]] = print,
                  op_types: Optional[Sequence[str]] = None) -> dict:
    """Write an int8 copy of the ghostdet ONNX file ``src`` to ``out``, calibrated on
    ``inputs``.

    Weights int8 within [-64, 64] (onnxruntime's ``reduce_range``: no saturation on CPUs
    without VNNI, see the module's docstring), per output channel unless ``per_channel`` is
    False; activations uint8 (uint8 x int8 is onnxruntime's fast path on x86 CPUs);
    quantize/dequantize pairs around each quantized operator (QDQ): every operator
    onnxruntime can quantize, or only those of ``op_types``.
    BatchNorms are folded and the graph simplified first (onnxruntime's pre-processing). The
    activation ranges are the min/max over the calibration images (onnxruntime keeps two
    numbers per tensor and image, not the tensors). Not with its
    ``CalibMaxIntermediateOutputs``: onnxruntime 1.32 drops the ranges collected so far when
    it reaches that count instead of merging them.

    The file is written to ``out.part`` and renamed to ``out`` once it runs in onnxruntime on
    the first calibration image, with outputs shaped as the float file's.

    Args:
        src (str): A file written by :func:`~ghostdet.deployment.onnx.export_onnx`.
        out (str): The ``.onnx`` file to write.
        inputs (Iterable[Tensor]): Calibration batches as the data preprocessor outputs them
            (e.g. :class:`CalibrationImages`).
        per_channel (bool): One weight scale per output channel. Defaults to True.
        total (int, optional): How many images ``inputs`` holds, for the progress lines.
        calibration (dict, optional): Where the images came from, kept in the file's metadata.
        progress (Callable[[str], None], optional): Receives progress lines. Defaults to print.
        op_types (Sequence[str], optional): Quantize only these operator types (onnxruntime's
            ``op_types_to_quantize``, e.g. ``['Conv']``); each must be in the graph. Defaults
            to all that onnxruntime can quantize.

    Returns:
        dict: ``path``, ``size_mb``, ``src_size_mb``, ``images`` (calibration images used),
        ``quantized_nodes`` (QuantizeLinear nodes written) and ``output_diff`` (largest
        difference to the float file's outputs on the first calibration image, relative to each
        output's largest magnitude).

    Raises:
        FileNotFoundError: No such ``src``.
        ValueError: ``src`` is not a float ghostdet file, ``out`` is not a new ``.onnx`` path,
            there is no calibration image, an ``op_types`` entry is not in the graph, or
            nothing could be quantized.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quant_pre_process, quantize_static)

    from ..models.fuse import relative_difference

    if not out.endswith('.onnx'):
        raise ValueError(f'the output must be an .onnx file, got {out}')
    if osp.abspath(out) == osp.abspath(src):
        raise ValueError(f'write the quantized model to another file than {src}')
    source = ONNXNetwork(src)  # a ghostdet file, or a named error
    if source.meta.get('quantized'):
        raise ValueError(f'{src} is already quantized ({source.meta["quantized"]["weights"]} '
                         'weights): quantize the float file written by pytorch2onnx.py')
    inputs = iter(inputs)
    first = next(inputs, None)
    if first is None:
        raise ValueError('no calibration image: the int8 activation ranges need some')
    reader = _Reader(itertools.chain([first], inputs), progress, total)
    part = f'{out}.part'  # becomes ``out`` once it runs: no half-written file
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prepared = osp.join(tmp, 'prepared.onnx')
            # the dynamic height and width defeat the symbolic shape inference; not needed
            quant_pre_process(src, prepared, skip_symbolic_shape=True)
            if op_types:
                present = sorted({node.op_type for node in onnx.load(prepared).graph.node})
                absent = [t for t in op_types if t not in present]
                if absent:
                    raise ValueError(f'no {", ".join(absent)} operator in {src} (after '
                                     f'BatchNorm folding); it has: {", ".join(present)}')
            quantize_static(
                prepared, part, reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                reduce_range=True,  # the same results with and without VNNI: module docstring
                calibrate_method=CalibrationMethod.MinMax,
                op_types_to_quantize=list(op_types) if op_types else None)
        graph = onnx.load(part)
        nodes = sum(node.op_type == 'QuantizeLinear' for node in graph.graph.node)
        if not nodes:
            asked = f' of the {", ".join(op_types)} operators' if op_types else ''
            raise ValueError(f'onnxruntime quantized nothing{asked}: the file would be the '
                             'float one')
        meta = dict(source.meta, quantized=dict(
            weights='int8', weight_range=[-64, 64], activations='uint8',
            per_channel=per_channel, method='minmax',
            op_types=sorted(op_types) if op_types else 'all', images=reader.count,
            calibration=calibration))
        props = {p.key: p.value for p in graph.metadata_props}
        onnx.helper.set_model_props(graph, dict(props, **{METADATA_KEY: json.dumps(meta)}))
        onnx.save(graph, part)
        expected = source(first)
        got = ONNXNetwork(part)(first)
        diff = relative_difference(expected, got)  # names a shape or count mismatch
        os.replace(part, out)
    finally:
        if osp.exists(part):
            os.remove(part)
    return dict(path=out, size_mb=osp.getsize(out) / 2**20, src_size_mb=osp.getsize(src) / 2**20,
                images=reader.count, quantized_nodes=nodes, output_diff=diff)


def quantize_detector(config,
                      src: str,
                      out: str,
                      num_images: int = 64,
                      split: str = 'train',
                      per_channel: bool = True,
                      cfg_options: Optional[dict] = None,
                      progress: Optional[Callable[[str], None]] = print,
                      image_dir: Optional[str] = None,
                      op_types: Optional[Sequence[str]] = None) -> dict:
    """What ``tools/deployment/quantize_onnx.py`` does: check that ``src`` was exported from
    the config's detector, then :func:`quantize_onnx` it calibrated on
    :class:`CalibrationImages` of the config (or of ``image_dir``)."""
    from ..apis.builder import load_config
    from ..utils.registry import build_model
    from .onnx import onnx_test_model

    if not osp.isfile(src):
        raise FileNotFoundError(f'ONNX model not found: {src}')
    cfg = load_config(config, cfg_options)
    build_model(onnx_test_model(cfg.model, src))  # another config's file: a named error
    images = CalibrationImages(cfg, num_images, split, image_dir=image_dir)
    return quantize_onnx(src, out, images, per_channel, len(images), images.source, progress,
                         op_types)


def export_for_timing(model: torch.nn.Module,
                      folder: str,
                      img: Tensor,
                      calibration: Iterable[Tensor],
                      progress: Optional[Callable[[str], None]] = print) -> Tuple[str, str]:
    """Export ``model``'s network to ``folder/float.onnx`` (traced and checked on ``img``, see
    :func:`~ghostdet.deployment.onnx.export_onnx`) and quantize that to ``folder/int8.onnx``
    calibrated on ``calibration``: the two files ``benchmark.py --export-onnx`` times beside
    the PyTorch model. Calibrated on whatever ``calibration`` holds (e.g. synthetic images),
    the int8 file's speed is what it would be, not its accuracy. Returns the two paths."""
    from .onnx import export_onnx

    float_file, int8_file = osp.join(folder, 'float.onnx'), osp.join(folder, 'int8.onnx')
    report = export_onnx(model, float_file, img)
    if progress is not None:
        progress(f'exported the network to ONNX ({report["size_mb"]:.1f} MB, outputs within '
                 f'{report["check_diff"]:.2g} of PyTorch\'s); quantizing it to int8')
    quantize_onnx(float_file, int8_file, calibration, progress=None)
    return float_file, int8_file
