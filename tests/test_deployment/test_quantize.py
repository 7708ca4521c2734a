"""int8 quantization of an exported GhostNet RetinaNet: calibration images are the config's
images as the deployed network sees them, the file holds int8 weights (per output channel)
and ghostdet's metadata, and its outputs follow the float file's on held-out images, the
closer for the calibration."""
import json

import cv2
import numpy as np
import onnx
import pytest
import torch

from ghostdet.apis import build_detector
from ghostdet.datasets import make_synthetic_coco
from ghostdet.deployment import (CalibrationImages, ONNXNetwork, check_exported_from,
                                 export_onnx, quantize_onnx)
from ghostdet.models import randomize_batchnorm, synthetic_batch
from tests.helpers import REPO

CONFIG = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_coco(root, num_train=12, num_val=3, num_test=3, seed=0)
    return str(root) + '/'


def options(data_root):
    return {f'{split}_dataloader.dataset.data_root': data_root
            for split in ('train', 'val', 'test')}


@pytest.fixture(scope='module')
def model():
    # trained-looking BatchNorm statistics, so that the activations have ranges worth keeping;
    # seeded weights, so that the int8 file's differences are the same in every run
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return randomize_batchnorm(build_detector(CONFIG))


@pytest.fixture(scope='module')
def exported(model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('onnx') / 'float.onnx')
    img, _ = synthetic_batch(model, (128, 160))
    export_onnx(model, path, img, classes=('circle', 'square', 'triangle'))
    return path


@pytest.fixture(scope='module')
def calibration(data_root):
    return CalibrationImages(CONFIG, 6, 'train', options(data_root))


@pytest.fixture(scope='module')
def quantized(exported, calibration, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('int8') / 'int8.onnx')
    lines = []
    report = quantize_onnx(exported, path, calibration, total=len(calibration),
                           calibration=dict(split='train'), progress=lines.append)
    return report, lines


def held_out(data_root, count=3):
    return list(CalibrationImages(CONFIG, count, 'test', options(data_root)))


def test_calibration_images_are_the_test_pipelines_normalised_inputs(data_root, calibration):
    """Spread over the split, through the test pipeline (no random flip, though the split is
    the training one) and the data preprocessor: un-normalised, the first one is its file."""
    assert len(calibration) == 6 and calibration.indices == [0, 2, 4, 7, 9, 11]
    first = next(iter(calibration))
    assert tuple(first.shape) == (1, 3, 256, 320)  # the 320x256 image, 32-divisible already
    preprocessor = calibration.preprocessor
    mean, std = preprocessor.mean.view(3, 1, 1), preprocessor.std.view(3, 1, 1)
    rgb = (first[0] * std + mean).permute(1, 2, 0).numpy()
    path = calibration.dataset.get_data_info(0)['img_path']
    expected = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB).astype(np.float32)
    assert np.abs(rgb - expected).max() < 1e-3
    assert len(CalibrationImages(CONFIG, 99, 'val', options(data_root))) == 3  # all it has


def test_calibration_on_a_folder_of_unlabelled_images_is_the_splits_calibration(data_root):
    """``image_dir``: the same images through the same pipeline, annotations left out."""
    split = CalibrationImages(CONFIG, 3, 'val', options(data_root))
    files = CalibrationImages(CONFIG, 3, 'val', options(data_root),
                              image_dir=data_root + 'images/val_*.jpg')
    assert split.source == dict(split='val')
    assert files.source == dict(image_dir=data_root + 'images/val_*.jpg')
    assert len(files) == 3
    for from_split, from_files in zip(split, files):
        assert torch.equal(from_split, from_files)
    with pytest.raises(FileNotFoundError, match='no images found at'):
        CalibrationImages(CONFIG, image_dir=data_root + 'images/none_*.jpg')


def test_calibration_images_leave_autograd_as_it_was_between_images(calibration):
    """The images are made without autograd, but a paused iteration must not keep it off
    for the caller (it did: later tests in the same process could not train)."""
    images = iter(calibration)
    next(images)
    assert torch.is_grad_enabled()
    with torch.no_grad():
        next(images)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()


@pytest.mark.parametrize('kwargs, message', [
    (dict(split='bogus'), 'split must be one of train, val, test'),
    (dict(num_images=0), 'calibration needs at least one image'),
])
def test_calibration_images_refuse_bad_requests(data_root, kwargs, message):
    with pytest.raises(ValueError, match=message):
        CalibrationImages(CONFIG, cfg_options=options(data_root), **kwargs)


def test_quantized_file_holds_int8_weights_per_channel_and_ghostdets_metadata(
        exported, quantized):
    report, lines = quantized
    assert report['images'] == 6 and lines[-1] == 'calibration: 6/6 images'
    assert report['size_mb'] < 0.4 * report['src_size_mb']
    graph = onnx.load(report['path'])
    float_meta = ONNXNetwork(exported).meta
    meta = json.loads({p.key: p.value for p in graph.metadata_props}['ghostdet'])
    assert meta == dict(float_meta, quantized=dict(
        weights='int8', weight_range=[-64, 64], activations='uint8', per_channel=True,
        method='minmax', op_types='all', images=6, calibration=dict(split='train')))
    assert report['quantized_nodes'] == sum(n.op_type == 'QuantizeLinear'
                                            for n in graph.graph.node) > 50
    inits = {i.name: i for i in graph.graph.initializer}
    convs = [n for n in graph.graph.node if n.op_type == 'Conv']
    int8_weights = 0
    for conv in convs:
        dequant = next(n for n in graph.graph.node if n.output[0] == conv.input[1])
        weight, scale = inits[dequant.input[0]], inits[dequant.input[1]]
        assert weight.data_type == onnx.TensorProto.INT8
        assert onnx.numpy_helper.to_array(scale).size == weight.dims[0]  # one per out channel
        int8_weights += 1
    assert int8_weights == len(convs) > 50


def quantized_inputs(graph, op_type):
    """How many of the graph's ``op_type`` nodes take a dequantized (int8/uint8) input."""
    dequantized = {n.output[0] for n in graph.node if n.op_type == 'DequantizeLinear'}
    return sum(any(i in dequantized for i in n.input) for n in graph.node if n.op_type == op_type)


def count(graph, op_type):
    return sum(n.op_type == op_type for n in graph.node)


def test_op_types_quantizes_only_those_operators(exported, calibration, quantized, tmp_path):
    """``op_types=['Conv']``: the convolutions' weights and inputs are int8 as in the full
    file, but their ReLUs are no longer quantized with them (in the full file a uint8 output
    does the ReLU's clipping and the node is gone), so they stay, each with a quantize/
    dequantize pair of its own."""
    path = str(tmp_path / 'conv.onnx')
    report = quantize_onnx(exported, path, calibration, progress=None, op_types=['Conv'])
    graph, full = onnx.load(path).graph, onnx.load(quantized[0]['path']).graph
    assert quantized_inputs(graph, 'Conv') == quantized_inputs(full, 'Conv') == count(
        graph, 'Conv') > 50
    assert count(full, 'Relu') == 0 and count(graph, 'Relu') == count(
        onnx.load(exported).graph, 'Relu') > 20
    assert report['quantized_nodes'] > quantized[0]['quantized_nodes']
    assert ONNXNetwork(path).meta['quantized']['op_types'] == ['Conv']


def test_op_types_refuses_an_operator_the_graph_lacks_or_cannot_quantize(exported, tmp_path):
    out = tmp_path / 'x.onnx'
    img = torch.zeros(1, 3, 64, 64)
    with pytest.raises(ValueError, match=r'no Softmax operator in .*; it has: .*Concat, Conv'):
        quantize_onnx(exported, str(out), [img], progress=None, op_types=['Conv', 'Softmax'])
    with pytest.raises(ValueError, match='quantized nothing of the Div operators'):
        quantize_onnx(exported, str(out), [img], progress=None, op_types=['Div'])
    assert not list(tmp_path.iterdir())


def test_int8_weights_leave_the_int16_sums_of_cpus_without_vnni_room(quantized):
    """Every convolution's int8 weights lie within [-64, 64], and reach its ends: x86 CPUs
    without VNNI (AVX2 only, e.g. AMD EPYC before Zen 4) add uint8 x int8 products in pairs
    into int16 (``vpmaddubsw``), which saturates above 32767. 2 x 255 x 64 = 32640 fits, so
    onnxruntime computes there exactly what VNNI CPUs compute (full-range weights, up to 127,
    would not fit), and the bounds of the test below hold on both kinds of CPU."""
    graph = onnx.load(quantized[0]['path']).graph
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    dequantized = {n.output[0]: n.input[0] for n in graph.node if n.op_type == 'DequantizeLinear'}
    weights = [inits[dequantized[n.input[1]]] for n in graph.node if n.op_type == 'Conv']
    assert len(weights) > 50 and all(w.dtype == np.int8 for w in weights)
    assert min(int(w.min()) for w in weights) == -64
    assert max(int(w.max()) for w in weights) == 64


def test_int8_outputs_follow_the_float_ones_on_held_out_images(data_root, exported, quantized):
    """On test images (not calibrated on), the int8 file's outputs stay near the float
    file's: mean difference 3.5% of the mean magnitude when this was written, on a CPU with
    VNNI and, to the last bit, on one without (emulated); with full-range weights 2.5% on the
    first and 24% on the second.
    (This model's random head scores every anchor alike, so its detections say nothing: what
    int8 does to the detections and the mAP of a trained model is measured in the README.)"""
    float_net, int8_net = ONNXNetwork(exported), ONNXNetwork(quantized[0]['path'])
    diffs, sizes = [], []
    for img in CalibrationImages(CONFIG, 3, 'test', options(data_root)):
        for want, got in zip(float_net(img), int8_net(img)):
            diffs.append(float((want - got).abs().mean()))
            sizes.append(float(want.abs().mean()))
    assert sum(diffs) / sum(sizes) < 0.05


def input_quantization(path):
    """The (scale, zero point) the graph quantizes its input image with."""
    graph = onnx.load(path).graph
    node = next(n for n in graph.node if n.op_type == 'QuantizeLinear' and n.input[0] == 'img')
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    return float(inits[node.input[1]]), int(inits[node.input[2]])


def test_activation_ranges_are_the_calibration_images_min_and_max(exported, calibration,
                                                                   quantized, tmp_path):
    """uint8 over [min, max] of what it was calibrated on (0 included): the input's range is
    the calibration images'; on images of a twentieth of the range, a twentieth of the scale."""
    images = list(calibration)
    low = min(0.0, min(float(i.min()) for i in images))
    high = max(0.0, max(float(i.max()) for i in images))
    scale, zero = input_quantization(quantized[0]['path'])
    assert scale == pytest.approx((high - low) / 255, rel=1e-5)
    assert zero == round(-low / scale)
    dim = str(tmp_path / 'dim.onnx')
    quantize_onnx(exported, dim, (img / 20 for img in images), progress=None)
    assert input_quantization(dim)[0] == pytest.approx(scale / 20, rel=1e-5)


def test_the_benchmarks_check_takes_an_int8_file_by_its_outputs_shapes(model, quantized):
    img, _ = synthetic_batch(model, (96, 128), seed=3)
    assert check_exported_from(model, quantized[0]['path'], img) > 1e-4  # not refused
    other = randomize_batchnorm(build_detector(CONFIG, {'model.bbox_head.num_classes': 4}))
    with pytest.raises(ValueError, match='is not an export of this model'):
        check_exported_from(other, quantized[0]['path'], img)


def test_quantize_refuses_bad_requests_and_leaves_no_file(exported, quantized, tmp_path):
    out = tmp_path / 'x.onnx'
    img = torch.zeros(1, 3, 64, 64)
    with pytest.raises(ValueError, match='already quantized'):
        quantize_onnx(quantized[0]['path'], str(out), [img], progress=None)
    with pytest.raises(ValueError, match='to another file than'):
        quantize_onnx(exported, exported, [img], progress=None)
    with pytest.raises(ValueError, match='must be an .onnx file'):
        quantize_onnx(exported, str(tmp_path / 'x.bin'), [img], progress=None)
    with pytest.raises(ValueError, match='no calibration image'):
        quantize_onnx(exported, str(out), [], progress=None)
    foreign = tmp_path / 'foreign.onnx'
    graph = onnx.load(exported)
    del graph.metadata_props[:]
    onnx.save(graph, str(foreign))
    with pytest.raises(ValueError, match='was not exported by ghostdet'):
        quantize_onnx(str(foreign), str(out), [img], progress=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['foreign.onnx']
