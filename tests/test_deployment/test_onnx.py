"""ONNX export of a GhostNet + GhostFPN RetinaNet and its run in onnxruntime: the file computes
what PyTorch computes at other batch and image sizes than it was traced at, and the onnxruntime
detector's boxes are PyTorch's."""
import json
from pathlib import Path

import pytest
import torch

from ghostdet.analysis import build_detector, load_config, randomize_batchnorm, synthetic_batch
from ghostdet.deployment import (DenseNetwork, ONNXNetwork, ONNXRuntimeDetector, check_onnx,
                                 export_onnx)
from ghostdet.utils.registry import build_model
from tests.helpers import REPO

CONFIG = str(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_ghost-fpn_1x_coco.py')
THREE_CLASSES = {'model.bbox_head.num_classes': 3}
CLASSES = ('circle', 'square', 'triangle')


def relative_difference(expected, got):
    return max(float((e - g).abs().max() / e.abs().max()) for e, g in zip(expected, got))


@pytest.fixture(scope='module')
def model():
    # trained-looking BatchNorm statistics, so that a wrong graph shows in the outputs
    return randomize_batchnorm(build_detector(CONFIG, THREE_CLASSES))


@pytest.fixture(scope='module')
def exported(model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('onnx') / 'retinanet.onnx')
    img, _ = synthetic_batch(model, (128, 160))
    check_img, _ = synthetic_batch(model, (96, 224), batch_size=2, seed=1)
    return export_onnx(model, path, img, check_img, classes=CLASSES)


def test_export_names_the_outputs_after_the_heads_arguments_and_keeps_metadata(exported):
    import onnx
    levels = 5
    assert exported['groups'] == [('cls_scores', levels), ('bbox_preds', levels)]
    assert exported['outputs'][:2] == ['cls_scores_0', 'cls_scores_1']
    assert exported['outputs'][-1] == 'bbox_preds_4'
    assert exported['check_diff'] < 1e-4 and exported['opset'] >= 18  # torch's default (20 here)
    graph = onnx.load(exported['path'])
    assert [o.name for o in graph.graph.output] == exported['outputs']
    meta = json.loads({p.key: p.value for p in graph.metadata_props}['ghostdet'])
    assert meta == dict(groups=[['cls_scores', 5], ['bbox_preds', 5]], head='RetinaHead',
                        num_classes=3, classes=list(CLASSES), static_shape=None)
    assert sorted(p.name for p in Path(exported['path']).parent.iterdir()) == [
        'retinanet.onnx']  # the weights inside, no external data file


@pytest.mark.parametrize('batch, shape', [(1, (128, 160)), (3, (64, 320)), (2, (256, 96))])
def test_onnxruntime_computes_what_pytorch_computes_at_other_sizes(model, exported, batch,
                                                                   shape):
    img, _ = synthetic_batch(model, shape, batch_size=batch, seed=2)
    with torch.no_grad():
        expected = DenseNetwork(model)(img)
    network = ONNXNetwork(exported['path'])
    providers = network.session.get_providers()  # CUDA's first where onnxruntime-gpu is in
    assert providers[-1] == 'CPUExecutionProvider' and 'AzureExecutionProvider' not in providers
    got = network(img)
    assert [tuple(t.shape) for t in got] == [tuple(t.shape) for t in expected]
    assert expected[0].shape[0] == batch and expected[0].shape[1] == 9 * 3  # anchors x classes
    assert relative_difference(expected, got) < 1e-4


def test_the_check_sees_a_model_other_than_the_exported_one(model, exported):
    other = randomize_batchnorm(build_detector(CONFIG, THREE_CLASSES), seed=1)
    img, _ = synthetic_batch(model, (96, 96))
    assert check_onnx(model, exported['path'], img) < 1e-4
    assert check_onnx(other, exported['path'], img) > 1e-2


def assert_same_detections(expected, got, score_atol=1e-4, box_atol=0.05):
    """The same 100 detections: each of ``got`` pairs with its own one of ``expected`` of the
    same label, a score within ``score_atol`` and a box within ``box_atol``. Pairs are sought
    among the detections whose scores tie within ``score_atol``: the untrained model's scores
    tie, and onnxruntime's last digits may order two tied boxes the other way (seen once in
    CI: 8 of 400 coordinates off, the largest at box 18, labels and scores equal: two boxes
    in the other order, as far as the log tells)."""
    assert len(expected) == len(got) == 100  # max_per_img of the COCO test_cfg
    torch.testing.assert_close(got.scores, expected.scores, rtol=0, atol=score_atol)
    free = list(range(len(expected)))
    for i in range(len(got)):
        pair = [j for j in free
                if abs(float(expected.scores[j] - got.scores[i])) <= score_atol
                and expected.labels[j] == got.labels[i]
                and float((expected.bboxes[j] - got.bboxes[i]).abs().max()) <= box_atol]
        assert pair, (f'detection {i} (label {int(got.labels[i])}, score '
                      f'{float(got.scores[i]):.5f}, box {got.bboxes[i].tolist()}) has no match')
        free.remove(pair[0])


def test_assert_same_detections_takes_tied_swaps_and_refuses_moved_boxes():
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(0)
    scores = torch.linspace(0.9, 0.1, 100)
    scores[19] = scores[18]  # a tie
    a = dict(scores=scores, labels=torch.randint(0, 3, (100,), generator=gen),
             bboxes=torch.rand(100, 4, generator=gen) * 200)

    def dets(order=range(100), **changes):
        data = {k: v[list(order)].clone() for k, v in a.items()}
        for key, (index, value) in changes.items():
            data[key][index] = value
        return InstanceData(**data)

    swap = list(range(100))
    swap[18], swap[19] = 19, 18
    assert_same_detections(dets(), dets(swap))
    with pytest.raises(AssertionError, match='detection 5 .* has no match'):
        assert_same_detections(dets(), dets(bboxes=((5, 0), a['bboxes'][5, 0] + 1)))
    with pytest.raises(AssertionError, match='detection 7 .* has no match'):
        assert_same_detections(dets(), dets(labels=(7, (a['labels'][7] + 1) % 3)))
    swap = list(range(100))
    swap[30], swap[31] = 31, 30  # not tied: 0.0081 apart
    with pytest.raises(AssertionError):
        assert_same_detections(dets(), dets(swap))


def test_onnxruntime_detector_predicts_pytorchs_boxes(model, exported):
    cfg = load_config(CONFIG).model
    cfg.bbox_head.num_classes = 3
    detector = build_model(dict(type='ONNXRuntimeDetector', onnx_file=exported['path'],
                                detector=cfg)).eval()
    img, samples = synthetic_batch(model, (160, 224), batch_size=2, seed=3)
    samples[1].set_metainfo(dict(img_shape=(150, 200), ori_shape=(300, 400),
                                 scale_factor=(0.5, 0.5)))  # another image, resized
    with torch.no_grad():
        expected = model.predict(img, [s.clone() for s in samples])
        got = detector.predict(img, [s.clone() for s in samples])
    for e, g in zip(expected, got):
        assert_same_detections(e.pred_instances, g.pred_instances)
    assert got[1].pred_instances.bboxes[:, 2].max() > 200  # rescaled to the 400-wide original


def test_onnxruntime_detector_refuses_another_configs_head(exported):
    cfg = load_config(CONFIG).model  # 80 classes, the file has 3
    with pytest.raises(ValueError, match='holds a .*3.* but the config builds a .*80'):
        ONNXRuntimeDetector(exported['path'], cfg)


def test_two_stage_detectors_are_refused_with_the_reason(tmp_path):
    faster = build_detector(str(REPO / 'configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py'))
    img, _ = synthetic_batch(faster, (64, 64))
    with pytest.raises(ValueError, match='FasterRCNN is a two-stage detector'):
        export_onnx(faster, str(tmp_path / 'faster.onnx'), img)
    assert not (tmp_path / 'faster.onnx').exists()


def test_files_that_are_absent_or_not_ours_are_named(exported, tmp_path):
    import onnx
    with pytest.raises(FileNotFoundError, match='ONNX model not found: .*nope.onnx'):
        ONNXNetwork(str(tmp_path / 'nope.onnx'))
    graph = onnx.load(exported['path'])
    del graph.metadata_props[:]
    foreign = str(tmp_path / 'foreign.onnx')
    onnx.save(graph, foreign)
    with pytest.raises(ValueError, match='was not exported by ghostdet'):
        ONNXNetwork(foreign)


def test_demo_model_takes_the_class_names_from_the_file_else_from_the_config(exported,
                                                                            tmp_path):
    import onnx

    from ghostdet.apis.inference import init_onnx_detector
    cfg = load_config(CONFIG, THREE_CLASSES)
    cfg.test_dataloader.dataset.metainfo = dict(classes=('a', 'b', 'c'))
    assert init_onnx_detector(cfg, exported['path']).dataset_meta['classes'] == CLASSES
    graph = onnx.load(exported['path'])
    prop = next(p for p in graph.metadata_props if p.key == 'ghostdet')
    prop.value = json.dumps(dict(json.loads(prop.value), classes=None))
    nameless = str(tmp_path / 'nameless.onnx')
    onnx.save(graph, nameless)
    assert init_onnx_detector(cfg, nameless).dataset_meta['classes'] == ('a', 'b', 'c')


def test_an_opset_is_written_as_asked_or_nothing_is_written(model, tmp_path):
    """torch's exporter converts its graph to the asked opset when it can; where it cannot it
    keeps its own and only logs that. A file of another opset than asked must not be
    written."""
    import onnx
    path = tmp_path / 'old.onnx'
    img, _ = synthetic_batch(model, (64, 64))
    try:
        report = export_onnx(model, str(path), img, opset=17)
    except ValueError as err:
        assert 'could not write opset 17 for this model (it wrote opset' in str(err)
        assert list(tmp_path.iterdir()) == []
    else:
        assert report['opset'] == 17
        assert max(o.version for o in onnx.load(str(path)).opset_import if o.domain == '') == 17


def test_a_failed_check_leaves_no_file(model, tmp_path):
    path = tmp_path / 'bad.onnx'
    img, _ = synthetic_batch(model, (64, 64))
    with pytest.raises(ValueError, match='exported graph does not compute .*bad.onnx was not'):
        export_onnx(model, str(path), img, rtol=-1.0)  # no difference is below -1
    assert list(tmp_path.iterdir()) == []


def test_a_static_export_takes_its_own_shape_only(model, tmp_path):
    path = str(tmp_path / 'static.onnx')
    img, _ = synthetic_batch(model, (128, 160))
    with pytest.raises(ValueError, match=r'a static export takes \(1, 3, 128, 160\) only'):
        export_onnx(model, path, img, synthetic_batch(model, (96, 96))[0], static=True)
    report = export_onnx(model, path, img, synthetic_batch(model, (128, 160), seed=1)[0],
                         static=True)
    assert report['input'] == '1x3x128x160' and report['check_diff'] < 1e-4
    network = ONNXNetwork(path)
    assert network.meta['static_shape'] == [1, 3, 128, 160]
    other, _ = synthetic_batch(model, (128, 160), seed=2)
    with torch.no_grad():
        assert relative_difference(DenseNetwork(model)(other), network(other)) < 1e-4
    with pytest.raises(ValueError, match='exported for inputs of 1x3x128x160 only .*not '
                       '2x3x128x160: export it without --static'):
        network(synthetic_batch(model, (128, 160), batch_size=2)[0])


def test_idle_threads_spin_unless_told_not_to(exported):
    """Side-by-side timing turns spinning off (sessions take turns on the same cores);
    otherwise onnxruntime keeps its default."""
    key = 'session.intra_op.allow_spinning'
    quiet = ONNXNetwork(exported['path'], num_threads=2, spinning=False)
    assert quiet.session.get_session_options().get_session_config_entry(key) == '0'
    default = ONNXNetwork(exported['path'], num_threads=2)
    with pytest.raises(Exception, match=key):  # not set: onnxruntime's default (spinning)
        default.session.get_session_options().get_session_config_entry(key)
    img = torch.rand(1, 3, 64, 64)
    for a, b in zip(quiet(img), default(img)):
        torch.testing.assert_close(a, b)
