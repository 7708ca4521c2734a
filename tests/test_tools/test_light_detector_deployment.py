"""The light detector (mmdet's RTMDet with GhostNet, Ghost-PAN and ``LightSepBNHead``, the
quickstart config of it) through the deployment tools, run as a user runs them (subprocesses):
``pytorch2onnx.py`` exports a checkpoint of it with dynamic batch and image size and checks it
in onnxruntime, ``test.py`` evaluates the file as it evaluates the checkpoint (the same
detections, the same mAP) and ``quantize_onnx.py`` writes an int8 file that ``test.py``
evaluates. The RetinaNet quickstart's round trip is tested in test_train_test_demo.py."""
import json
import re
from pathlib import Path

import onnx
import pytest

from ghostdet.datasets import make_synthetic_coco
from tests.helpers import REPO
from tests.test_tools.test_train_test_demo import (EPOCHS, ITERS_PER_EPOCH,
                                                   assert_same_top_scores, load_predictions,
                                                   options, run_tool)

CONFIG = str(REPO / 'configs/quickstart/rtmdet_ghostnet-1.0x_ghost-pan_12e_synthetic.py')
RETINANET = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
ITERS = EPOCHS * ITERS_PER_EPOCH
# At the config's rate, warmed up from 1% of it, 8 iterations leave the box distances near their
# initial zero and the head keeps no box (min_bbox_size=0 drops those without width); at 1e-2
# from the first iteration the boxes have sides of tens of pixels and the scores some spread.
TRAIN = {'optim_wrapper.optimizer.lr': 0.01, 'param_scheduler.0.start_factor': 1.0,
         'default_hooks.checkpoint.interval': ITERS}
KEEP_ALL = {'model.test_cfg.score_thr': 0.0}  # 50 boxes an image, to compare detections
METRICS = re.compile(r'coco/(bbox_mAP\w*): (-?[\d.]+)')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_coco(root, num_train=16, num_val=4, num_test=4, seed=0)
    return str(root) + '/'


@pytest.fixture(scope='module')
def checkpoint(data_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('light')
    run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir] + options(data_root, **TRAIN))
    return work_dir / f'iter_{ITERS}.pth'


def run_test_tool(config, model, data_root, work_dir, out, **extra):
    """``tools/test.py config model --out out`` keeping every box: (its log, its metrics)."""
    result = run_tool(['tools/test.py', config, model, '--work-dir', work_dir, '--out', out]
                      + options(data_root, **KEEP_ALL, **extra))
    log = result.stdout + result.stderr
    return log, dict(METRICS.findall(log))


@pytest.fixture(scope='module')
def reference(data_root, checkpoint, tmp_path_factory):
    """The checkpoint's test-split detections (``test.py --out``), and its metrics on labels
    made of those detections (one label a box): (the .pkl, the labels file, the metrics). The
    8-iteration model finds none of the shapes (mAP 0 on the real labels, as an export that
    put its boxes anywhere would score too); on its own detections its mAP is not 0, and
    another model's is the same only where it finds the same boxes."""
    tmp_path = tmp_path_factory.mktemp('reference')
    out = tmp_path / 'checkpoint.pkl'
    log, _ = run_test_tool(CONFIG, checkpoint, data_root, tmp_path / 'w', out)
    assert 'coco/bbox_mAP:' in log
    coco = json.loads(Path(data_root, 'annotations/test.json').read_text())
    coco['annotations'] = []
    for result in load_predictions(out):
        boxes = result['pred_instances']['bboxes'].tolist()
        for (x1, y1, x2, y2), label in zip(boxes, result['pred_instances']['labels'].tolist()):
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=result['img_id'], iscrowd=0,
                category_id=coco['categories'][label]['id'], bbox=[x1, y1, x2 - x1, y2 - y1],
                area=(x2 - x1) * (y2 - y1)))
    labels = tmp_path / 'labels.json'
    labels.write_text(json.dumps(coco))
    _, metrics = run_test_tool(CONFIG, checkpoint, data_root, tmp_path / 'w',
                               tmp_path / 'again.pkl', **{'test_evaluator.ann_file': labels})
    return out, labels, metrics


@pytest.fixture(scope='module')
def exported(checkpoint, tmp_path_factory):
    """``tools/deployment/pytorch2onnx.py`` on the checkpoint: (its log, the file)."""
    out = tmp_path_factory.mktemp('onnx') / 'light.onnx'
    result = run_tool(['tools/deployment/pytorch2onnx.py', CONFIG, checkpoint, '--out', out,
                       '--shape', '128', '160'])
    return result.stdout + result.stderr, out


def test_export_tool_writes_a_checked_onnx_file_of_the_light_detector(exported):
    log, out = exported
    assert f'wrote {out}' in log and 'outputs cls_scores x3, bbox_preds x3' in log
    assert re.search(r'MB, opset \d+\): input img \(N, 3, H, W\)', log)
    checked = re.search(r'checked in onnxruntime on another shape and batch size: outputs '
                        r"within (\S+) of PyTorch's", log)
    assert checked and float(checked.group(1)) <= 1e-4
    model = onnx.load(str(out))
    graph = model.graph
    (img, ) = graph.input
    dims = img.type.tensor_type.shape.dim
    assert [bool(d.dim_param) for d in dims] == [True, False, True, True]  # N, 3, H, W
    assert [o.name for o in graph.output] == [
        f'{group}_{level}' for group in ('cls_scores', 'bbox_preds') for level in range(3)]
    meta = json.loads({p.key: p.value for p in model.metadata_props}['ghostdet'])
    assert (meta['head'], meta['num_classes']) == ('LightSepBNHead', 3)


def test_test_tool_gives_the_checkpoints_detections_and_map_from_the_onnx_file(
        data_root, reference, exported, tmp_path):
    """``tools/test.py CONFIG light.onnx``: the network in onnxruntime, the boxes decoded and
    NMS-ed by the config's ``LightSepBNHead``; every detection has a twin in the checkpoint's
    and the metrics printed are the checkpoint's."""
    checkpoint_out, labels, checkpoint_metrics = reference
    out = tmp_path / 'onnx.pkl'
    log, metrics = run_test_tool(CONFIG, exported[1], data_root, tmp_path / 'w', out,
                                 **{'test_evaluator.ann_file': labels})
    assert 'coco/bbox_mAP:' in log
    assert float(checkpoint_metrics['bbox_mAP']) > 0
    assert metrics == checkpoint_metrics
    onnx_predictions = load_predictions(out)
    assert len(onnx_predictions) == 4
    assert_same_top_scores(onnx_predictions, load_predictions(checkpoint_out))
    result = run_tool(['tools/analysis/compare_predictions.py', checkpoint_out, out])
    assert 'detections: 200 in checkpoint.pkl, 200 in onnx.pkl' in result.stdout
    assert 'without a twin: 0 in checkpoint.pkl, 0 in onnx.pkl' in result.stdout, result.stdout
    # many of this model's scores lie within the tool's score tolerance of the lowest kept one,
    # where a detection without a twin counts as a tie "at the cut": all but a few ties at the
    # 50th box must have a twin
    twins = re.search(r'twins \(.*\): (\d+);', result.stdout)
    assert twins and int(twins.group(1)) >= 190, result.stdout


def test_quantize_tool_writes_an_int8_file_of_the_light_detector_that_test_py_evaluates(
        data_root, reference, exported, tmp_path):
    """``tools/deployment/quantize_onnx.py`` on the light detector's file (its shared head
    convolutions, each level with its own BatchNorm folded in by onnxruntime's pre-processing),
    and ``tools/test.py`` on the int8 file; a config of another head is refused by name."""
    out = tmp_path / 'int8.onnx'
    result = run_tool(['tools/deployment/quantize_onnx.py', CONFIG, exported[1], '--out', out,
                       '--images', '4'] + options(data_root))
    log = result.stdout + result.stderr
    assert 'calibration: 4/4 images' in log and f'wrote {out} (' in log
    diff = re.search(r"outputs differ from the float file's by up to (\S+) of", log)
    assert diff and float(diff.group(1)) < 0.2, log  # int8, not another model
    log, metrics = run_test_tool(CONFIG, out, data_root, tmp_path / 'w', tmp_path / 'int8.pkl',
                                 **{'test_evaluator.ann_file': reference[1]})
    assert set(metrics) >= {'bbox_mAP', 'bbox_mAP_50'} and 'coco/bbox_mAP:' in log
    assert len(load_predictions(tmp_path / 'int8.pkl')) == 4
    result = run_tool(['tools/deployment/quantize_onnx.py', RETINANET, exported[1], '--out',
                       tmp_path / 'r.onnx'], check=False)
    assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr[-2000:]
    assert ("holds a {'head': 'LightSepBNHead', 'num_classes': 3} but the config builds a "
            "{'head': 'RetinaHead', 'num_classes': 3}") in result.stderr
