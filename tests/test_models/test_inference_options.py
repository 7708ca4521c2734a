import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ghostdet.apis import build_detector
from ghostdet.models import (AccelerationCheckError, InferenceOptions, NetworkGraphs, accelerate,
                             accelerated_copy, check_against, randomize_batchnorm,
                             synthetic_batch, synthetic_train_batch)
from ghostdet.models import inference_options as acc
from tests.helpers import REPO

QUICKSTART = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'
SHAPE = (64, 96)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason='fp16 and CUDA graphs need a CUDA device')


@pytest.fixture(scope='module')
def detector():
    """A small trained-looking detector: the quickstart RetinaNet, random BatchNorm
    statistics (fresh ones fold to a near identity and hide a wrong fold)."""
    return randomize_batchnorm(build_detector(QUICKSTART))


def test_options_order_names_and_tolerance():
    options = InferenceOptions(cuda_graph=True, fuse_bn=True)
    assert options.enabled == ('fuse_bn', 'cuda_graph')  # the order they are applied in
    assert str(options) == 'fuse_bn + cuda_graph'
    assert str(InferenceOptions()) == 'eager fp32' and InferenceOptions().tolerance() == 0
    assert InferenceOptions.fastest().enabled == acc.OPTION_ORDER
    assert InferenceOptions(fp16=True, channels_last=True).tolerance() == acc.TOLERANCES['fp16']


def test_fp32_options_get_fp16s_tolerance_where_cudnn_may_use_tf32(monkeypatch):
    options = InferenceOptions(fuse_bn=True, channels_last=True)
    assert options.tolerance('cpu') == 1e-3
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', True)
    assert options.tolerance('cuda:0') == acc.TF32_TOLERANCE == acc.TOLERANCES['fp16']
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    assert options.tolerance(torch.device('cuda')) == 1e-3


def test_options_that_need_cuda_are_refused_on_cpu_with_one_line():
    InferenceOptions(fuse_bn=True, channels_last=True).check_device('cpu')  # CPU is fine
    with pytest.raises(ValueError, match='^fp16 and cuda_graph need a CUDA device, but the '
                       'model runs on cpu$'):
        InferenceOptions.fastest().check_device('cpu')
    with pytest.raises(ValueError, match='^fp16 needs a CUDA device'):
        InferenceOptions(fp16=True).check_device(torch.device('cpu'))
    model = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match='cuda_graph needs a CUDA device'):
        accelerate(model, InferenceOptions(cuda_graph=True), inputs=[torch.rand(1, 3, 8, 8)])


def test_no_options_change_nothing(detector):
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    report = accelerate(detector, InferenceOptions())
    assert report.differences == {} and 'none (eager fp32)' in report.summary()
    assert all(torch.equal(v, before[k]) for k, v in detector.state_dict().items())


def test_fuse_bn_and_channels_last_pass_the_check_and_keep_predictions(detector):
    img, samples = synthetic_batch(detector, SHAPE)
    fast, report = accelerated_copy(detector, InferenceOptions(fuse_bn=True, channels_last=True),
                                    shape=SHAPE)
    assert list(report.differences) == ['fuse_bn', 'channels_last']
    assert all(0 <= d < 1e-4 for d in report.differences.values())
    assert report.folded > 50 and not any(isinstance(m, _BatchNorm) for m in fast.modules())
    conv = fast.backbone.conv_stem
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not detector.backbone.conv_stem.weight.is_contiguous(
        memory_format=torch.channels_last)  # a copy: the model is left as it was
    assert 'fuse_bn 'in report.summary() and 'BatchNorm layers folded' in report.summary()
    with torch.no_grad():
        want = detector.predict(img, samples)[0].pred_instances
        got = fast.predict(img, samples)[0].pred_instances
    assert len(want) > 0
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got.bboxes, want.bboxes, rtol=1e-4, atol=1e-3)
    # the check of another input shape against the model as it was
    other = synthetic_batch(detector, (96, 64), batch_size=2)[0]
    assert check_against(detector, fast, [other], InferenceOptions(fuse_bn=True)) < 1e-4


def test_a_broken_option_is_named_and_the_options_after_it_are_not_applied(detector,
                                                                          monkeypatch):
    def channels_last_that_breaks(model):
        acc.to_channels_last(model)
        with torch.no_grad():
            model.neck.fpn_convs[0].conv.weight.mul_(1.5)

    applied = []
    monkeypatch.setitem(acc.STEPS, 'channels_last', channels_last_that_breaks)
    monkeypatch.setitem(acc.STEPS, 'fp16', lambda model: applied.append('fp16'))
    monkeypatch.setattr(acc, 'CUDA_ONLY', ())  # fp16 would be refused on CPU first
    options = InferenceOptions(fuse_bn=True, channels_last=True, fp16=True)
    with pytest.raises(AccelerationCheckError, match=r'^channels_last changes the network\'s '
                       r'outputs by up to .* \(tolerance 0.001\)') as err:
        accelerated_copy(detector, options, shape=SHAPE)
    assert err.value.option == 'channels_last' and err.value.difference > 1e-2
    assert applied == []


def test_compare_outputs_refuses_nan_and_other_shapes():
    ones = (torch.ones(2, 3), )
    assert acc.compare_outputs(ones, (torch.ones(2, 3) * 1.001, ), 'fp16', 2e-2) < 2e-3
    with pytest.raises(AccelerationCheckError, match='^fp16 .*not finite'):
        acc.compare_outputs(ones, (torch.full((2, 3), float('nan')), ), 'fp16', 2e-2)
    with pytest.raises(AccelerationCheckError, match='^cuda_graph .*shaped'):
        acc.compare_outputs(ones, (torch.ones(3, 2), ), 'cuda_graph', 1e-3)


def test_half_weights_keep_the_preprocessor_decoding_and_losses_in_fp32():
    """The fp16 option's casts, run on CPU with bfloat16 in fp16's place: the network's
    weights change precision, the data preprocessor's do not, and what decoding, NMS and the
    losses read is fp32."""
    model = build_detector(QUICKSTART)
    img, samples = synthetic_batch(model, SHAPE)
    expected = acc.network_outputs(model, img)
    acc.to_half(model, torch.bfloat16)
    acc.to_half(model, torch.bfloat16)  # once is enough: the hooks are not added twice
    assert model.backbone.conv_stem.weight.dtype == torch.bfloat16
    assert model.bbox_head.retina_cls.weight.dtype == torch.bfloat16
    assert model.data_preprocessor.mean.dtype == torch.float32
    assert len(model.bbox_head._forward_hooks) == 1
    assert len(model.backbone._forward_pre_hooks) == 1
    with torch.no_grad():
        outs = model.bbox_head(model.extract_feat(img))
        assert outs[0][0].dtype == torch.float32  # cast back for decoding
        feats = model.extract_feat(img)
        assert feats[0].dtype == torch.bfloat16  # the network computes in the half type
        result = model.predict(img, samples)[0].pred_instances
    assert result.bboxes.dtype == result.scores.dtype == torch.float32
    got = acc.network_outputs(model, img)
    assert 1e-4 < acc.relative_difference(expected, got) < 5e-2  # bfloat16's rounding
    data = model.data_preprocessor(synthetic_train_batch(model, SHAPE, 2, num_classes=3),
                                   True)
    model.train()
    losses = model(**data, mode='loss')
    assert all(t.dtype == torch.float32 and torch.isfinite(t)
               for value in losses.values() for t in value)


def test_output_heads_are_the_outermost_heads():
    model = build_detector(REPO / 'configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py')
    heads = acc.output_heads(model)
    assert heads == [model.rpn_head, model.roi_head.bbox_head]
    assert acc.dense_head(model) is model.rpn_head
    conv = nn.Conv2d(3, 3, 1)
    assert acc.output_heads(conv) == [conv] and acc.network_modules(conv) == [conv]


def test_graphs_run_eagerly_off_cuda_and_put_the_methods_back(detector):
    img = synthetic_batch(detector, SHAPE)[0]
    expected = acc.network_outputs(detector, img)
    graphs = NetworkGraphs(detector)
    try:
        assert 'extract_feat' in vars(detector) and 'forward' in vars(detector.bbox_head)
        assert acc.capture_cuda_graphs(detector) is graphs  # not wrapped twice
        got = acc.network_outputs(detector, img)  # CPU input: eager
        assert graphs.graphs == {} and graphs.last is None
        assert acc.relative_difference(expected, got) == 0
    finally:
        graphs.remove()
    assert 'extract_feat' not in vars(detector) and 'forward' not in vars(detector.bbox_head)
    with pytest.raises(ValueError, match='max_graphs and warmup must be positive'):
        NetworkGraphs(detector, max_graphs=0)


def test_graph_head_returns_the_recorded_outputs_only_for_the_recorded_maps(detector):
    graphs = NetworkGraphs(detector)
    try:
        feats = tuple(torch.rand(1, 64, s, s) for s in (8, 4))
        recorded = ('scores', 'deltas')
        graphs.last = acc._Graph(graph=None, static_input=None, outputs=recorded, feats=feats)
        assert graphs.head_forward(feats) is recorded
        assert graphs.head_forward(list(feats)) is recorded
        copies = tuple(f.clone() for f in feats)  # equal values, other tensors: run eagerly
        eager = graphs.head_forward(copies)
        assert eager is not recorded and len(eager) == 2 and len(eager[0]) == 2
        graphs.recording = True  # while a graph records, the head runs
        assert graphs.head_forward(feats) is not recorded
    finally:
        graphs.remove()


@needs_cuda
def test_every_option_on_cuda_passes_the_check_and_predicts_like_eager():
    model = randomize_batchnorm(build_detector(QUICKSTART, device='cuda'))
    img, samples = synthetic_batch(model, (256, 320))
    fast, report = accelerated_copy(model, InferenceOptions.fastest(), shape=(256, 320))
    assert list(report.differences) == list(acc.OPTION_ORDER)
    assert report.differences['fp16'] < acc.TOLERANCES['fp16']
    assert fast.backbone.conv_stem.weight.dtype == torch.float16
    graphs = fast._ghostdet_graphs
    with torch.no_grad():
        want = model.predict(img, samples)[0].pred_instances
        got = fast.predict(img, samples)[0].pred_instances
        assert len(graphs.graphs) == 2  # the check's (inference mode) and this one
        before = graphs.extract_feat(img)[0].clone()
        other = synthetic_batch(model, (256, 320), seed=5)[0]
        after = graphs.extract_feat(other)[0]
        assert after is graphs.last.feats[0] and len(graphs.graphs) == 2  # replayed
        assert not torch.equal(before, after)  # on the new input
    assert got.bboxes.dtype == torch.float32 and len(want) > 0
    torch.testing.assert_close(got.scores.max(), want.scores.max(), rtol=2e-2, atol=1e-3)
    check_against(model, fast, [other], InferenceOptions.fastest())


@needs_cuda
def test_cuda_graph_replays_new_inputs_and_stops_recording_at_max_graphs():
    model = build_detector(QUICKSTART, device='cuda')
    reference = build_detector(QUICKSTART, device='cuda')
    reference.load_state_dict(model.state_dict())
    report = accelerate(model, InferenceOptions(cuda_graph=True), shape=(128, 128),
                        max_graphs=2)
    assert report.differences['cuda_graph'] < 1e-4  # the eager kernels, replayed
    graphs = model._ghostdet_graphs
    for seed in range(3):  # the same shape: one graph, each input read anew
        img = synthetic_batch(model, (128, 128), seed=seed)[0]
        check_against(reference, model, [img], InferenceOptions(cuda_graph=True))
    assert len(graphs.graphs) == 1
    with pytest.warns(UserWarning, match='run eagerly'):
        for shape in ((128, 160), (160, 128)):
            img = synthetic_batch(model, shape)[0]
            check_against(reference, model, [img], InferenceOptions(cuda_graph=True))
    assert len(graphs.graphs) == 2


@needs_cuda
def test_two_stage_detector_in_fp16_with_graphs():
    model = build_detector(REPO / 'configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py',
                           device='cuda')
    img, samples = synthetic_batch(model, (320, 320))
    fast, report = accelerated_copy(model, InferenceOptions.fastest(), shape=(320, 320))
    with torch.no_grad():
        result = fast.predict(img, samples)[0].pred_instances
    assert result.bboxes.dtype == torch.float32 and torch.isfinite(result.bboxes).all()
