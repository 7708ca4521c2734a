import logging

import pytest
import torch

from ghostdet.models import GhostNetV2, GhostNetV3
from ghostdet.models.layers import GhostBottleneckV3, GhostModuleV3
from ghostdet.models.utils import CheckpointMismatchError
from ghostdet.utils.registry import build_model

from tests.helpers import (FIXTURES, assert_exports_like_eager, free_batch_and_image_size,
                           calibrate_batch_norms, require_shared)

ALL = (0, 1, 2, 3, 4)
CLASSIFIER_KEYS = {'conv_head.weight', 'conv_head.bias', 'classifier.weight', 'classifier.bias'}


def test_registered_in_mmdet_models():
    model = build_model(dict(type='GhostNetV3', widen_factor=0.5, deploy=True))
    assert isinstance(model, GhostNetV3)
    assert all(m.deploy for m in model.modules() if isinstance(m, GhostModuleV3))


@pytest.mark.parametrize('widen_factor,channels', [
    (0.5, (12, 20, 56, 80, 480)),
    (1.0, (24, 40, 112, 160, 960)),
])
def test_shapes_per_out_index_in_both_forms(widen_factor, channels):
    for deploy in (False, True):
        model = GhostNetV3(widen_factor, out_indices=ALL, deploy=deploy).eval()
        assert model.out_channels == channels
        with torch.no_grad():
            outs = model(torch.rand(1, 3, 75, 99))
        assert [o.shape[1] for o in outs] == list(channels)
        assert [tuple(o.shape[2:]) for o in outs] == [(19, 25), (10, 13), (5, 7), (3, 4),
                                                      (3, 4)]


def test_blocks_and_attention():
    model = GhostNetV3()
    blocks = [b for stage in model.blocks[:9] for b in stage]
    assert len(blocks) == 16 and all(isinstance(b, GhostBottleneckV3) for b in blocks)
    assert [b.ghost1.short_conv is not None for b in blocks] == [False] * 2 + [True] * 14
    assert all(b.ghost2.short_conv is None for b in blocks)


def test_deploy_form_has_ghostnet_v2_s_layout_with_biased_convolutions():
    deployed = GhostNetV3(deploy=True).state_dict()
    assert not [k for k in deployed if '_rpr_' in k]
    v2 = GhostNetV2().state_dict()
    folded_norms = [k for k in v2 if k not in deployed]
    assert folded_norms and all(
        '.primary_conv.1.' in k or '.cheap_operation.1.' in k or '.bn_dw.' in k
        for k in folded_norms)
    assert 'blocks.1.0.conv_dw.bias' in deployed and 'blocks.2.0.ghost1.primary_conv.0.bias' \
        in deployed


def load_fixture():
    fixture = torch.load(require_shared(FIXTURES / 'timm_ghostnetv3_050.pt'), weights_only=True)
    state_dict = {k: v.float() if v.is_floating_point() else v
                  for k, v in fixture['state_dict'].items()}
    return fixture, state_dict


def shapes(state_dict):
    return {k: tuple(v.shape) for k, v in state_dict.items()}


def tolerance(features):
    """1e-4 of the features' magnitude (the fixture README's bar for the v3 forms)."""
    return 1e-4 * max(f.abs().max().item() for f in features)


def test_parameter_names_equal_timm_ghostnetv3_050_in_both_forms():
    fixture, state_dict = load_fixture()
    training = GhostNetV3(0.5, with_classifier=True).state_dict()
    assert len(training) == 1956 and shapes(training) == shapes(state_dict)
    deployed = GhostNetV3(0.5, with_classifier=True, deploy=True).state_dict()
    assert len(deployed) == 492 and shapes(deployed) == shapes(fixture['deploy_state_dict'])


def assert_close_to(outs, refs, tol):
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs):
        assert out.shape == ref.shape
        assert (out - ref).abs().max().item() <= tol


def test_parity_with_timm_ghostnetv3_050_training_form():
    fixture, state_dict = load_fixture()
    x = fixture['input'].float()
    tol = tolerance(fixture['features'])
    model = GhostNetV3(0.5, out_indices=ALL).eval()
    model.load_state_dict({k: v for k, v in state_dict.items() if k not in CLASSIFIER_KEYS})
    classifier = GhostNetV3(0.5, with_classifier=True).eval()
    classifier.load_state_dict(state_dict)
    with torch.no_grad():
        assert_close_to(model(x), fixture['features'], tol)
        assert (classifier(x) - fixture['logits']).abs().max().item() <= tol


def test_our_fold_matches_timm_s_deploy_form():
    """Folded here, the model gives timm's deployed outputs and holds its deployed values."""
    fixture, state_dict = load_fixture()
    x = fixture['input'].float()
    tol = tolerance(fixture['features'])
    model = GhostNetV3(0.5, with_classifier=True).eval()
    model.load_state_dict(state_dict)
    assert model.reparameterize() == 36  # 32 Ghost modules, 4 strided depthwise steps
    assert model.reparameterize() == 0
    folded = model.state_dict()
    assert shapes(folded) == shapes(fixture['deploy_state_dict'])
    for key, value in fixture['deploy_state_dict'].items():
        torch.testing.assert_close(folded[key].float(), value.float(), rtol=1e-4, atol=1e-4,
                                   msg=key)
    with torch.no_grad():
        assert (model(x) - fixture['deploy_logits']).abs().max().item() <= tol
        assert (model(x) - fixture['logits']).abs().max().item() <= tol
    model.with_classifier = False
    model.out_indices = ALL
    with torch.no_grad():
        outs = model(x)
    assert_close_to(outs, fixture['deploy_features'], tol)
    assert_close_to(outs, fixture['features'], tol)


def test_deploy_form_loads_timm_s_deployed_state_dict_through_init_cfg(tmp_path):
    fixture, _ = load_fixture()
    path = tmp_path / 'ghostnetv3_050_deploy.pth'
    torch.save(fixture['deploy_state_dict'], path)
    model = GhostNetV3(0.5, out_indices=ALL, deploy=True,
                       init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    with torch.no_grad():
        outs = model.eval()(fixture['input'].float())
    assert_close_to(outs, fixture['deploy_features'], tolerance(fixture['features']))
    training = GhostNetV3(0.5, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointMismatchError, match='_rpr_'):
        training.init_weights()  # the deployed weights do not fit the training form: loudly


def test_training_form_loads_timm_s_weights_through_init_cfg(tmp_path):
    _, state_dict = load_fixture()
    path = tmp_path / 'ghostnetv3_050.pth'
    torch.save(state_dict, path)
    model = GhostNetV3(0.5, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, state_dict[key]), key


@pytest.mark.parametrize('widen_factor', [0.5, 1.0])
def test_fold_of_random_weights_keeps_the_outputs(widen_factor):
    """Random weights, random BN affine parameters and calibrated statistics, as the fixtures
    are: eval-mode outputs of the training form equal the folded form's."""
    model = GhostNetV3(widen_factor, out_indices=ALL)
    model.init_weights()
    calibrate_batch_norms(model, shape=(2, 3, 96, 96))
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        before = model(x)
        folded = model.reparameterize()
        after = model(x)
    assert folded == 36
    assert_close_to(after, before, tolerance(before))
    assert not [k for k in model.state_dict() if '_rpr_' in k]


def test_fold_is_logged():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        GhostNetV3(0.5).reparameterize()
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == [
        'folded 36 re-parameterisable modules (GhostBottleneckV3, GhostModuleV3) into single '
        'convolutions for inference']


def test_training_form_trains_and_frozen_stages_hold():
    model = GhostNetV3(0.5, frozen_stages=1, with_cp=True).train()
    sum(o.sum() for o in model(torch.rand(2, 3, 64, 64))).backward()
    assert all(p.grad is None for p in model.blocks[:3].parameters())
    assert all(p.grad is not None for p in model.blocks[3].parameters())


def test_deploy_form_exports_with_free_batch_and_input_size():
    assert_exports_like_eager(
        GhostNetV3(0.5, out_indices=ALL, deploy=True), (torch.rand(2, 3, 224, 320),),
        (free_batch_and_image_size(min_side=128),),
        [(torch.rand(1, 3, 128, 160),), (torch.rand(3, 3, 480, 640),)])
