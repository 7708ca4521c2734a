import pytest
import torch

from ghostdet.models import GhostNet, GhostNetV2
from ghostdet.models.layers import GhostModule, GhostModuleV2
from ghostdet.models.utils import CheckpointMismatchError
from ghostdet.utils.registry import build_model

from tests.helpers import (FIXTURES, assert_exports_like_eager, free_batch_and_image_size,
                           require_shared)

ALL = (0, 1, 2, 3, 4)
CLASSIFIER_KEYS = {'conv_head.weight', 'conv_head.bias', 'classifier.weight', 'classifier.bias'}


def test_registered_in_mmdet_models():
    model = build_model(dict(type='GhostNetV2', widen_factor=1.3, out_indices=(1, 2, 4)))
    assert isinstance(model, GhostNetV2)


@pytest.mark.parametrize('widen_factor,channels', [
    (1.0, (24, 40, 112, 160, 960)),
    (1.3, (32, 52, 144, 208, 1248)),
    (1.6, (40, 64, 180, 256, 1536)),
])
def test_shapes_per_out_index(widen_factor, channels):
    model = GhostNetV2(widen_factor, out_indices=ALL).eval()
    assert model.out_channels == channels == GhostNet(widen_factor, out_indices=ALL).out_channels
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 75, 99))  # odd sides: the attention's pooling rounds down
    assert [o.shape[1] for o in outs] == list(channels)
    assert [tuple(o.shape[2:]) for o in outs] == [(19, 25), (10, 13), (5, 7), (3, 4), (3, 4)]


def test_attention_in_ghost1_from_the_third_bottleneck_on():
    model = GhostNetV2()
    blocks = [b for stage in model.blocks[:9] for b in stage]
    assert len(blocks) == 16
    assert [type(b.ghost1) for b in blocks] == [GhostModule] * 2 + [GhostModuleV2] * 14
    assert all(type(b.ghost2) is GhostModule for b in blocks)


def test_frozen_stages_and_norm_eval_as_ghostnet():
    model = GhostNetV2(frozen_stages=2, norm_eval=True)
    model.train()
    frozen = [model.conv_stem, model.bn1] + list(model.blocks[:5])
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.blocks[5:].parameters())
    assert not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_exports_with_free_batch_and_input_size():
    """torch.export with the batch and the input size (multiples of 32 from 128) left free: the
    DFC attention's upsampling follows the input. (torch.export refuses sides whose stride-32
    map, pooled by the attention, would be 1 wide: from 128 on it is at least 2.)"""
    assert_exports_like_eager(
        GhostNetV2(out_indices=ALL), (torch.rand(2, 3, 224, 320),),
        (free_batch_and_image_size(min_side=128),),
        [(torch.rand(1, 3, 128, 160),), (torch.rand(3, 3, 480, 640),)])


def test_checkpointing_trains():
    model = GhostNetV2(with_cp=True).train()
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    sum(o.sum() for o in model(x)).backward()
    assert x.grad is not None


def load_fixture():
    fixture = torch.load(require_shared(FIXTURES / 'timm_ghostnetv2_100.pt'), weights_only=True)
    state_dict = {k: v.float() if v.is_floating_point() else v
                  for k, v in fixture['state_dict'].items()}
    return fixture, state_dict


def test_parameter_names_equal_timm_ghostnetv2_100():
    keys = GhostNetV2(1.0, with_classifier=True).state_dict()
    assert len(keys) == 764
    assert 'blocks.2.0.ghost1.short_conv.4.weight' in keys
    assert 'blocks.1.0.ghost1.short_conv.0.weight' not in keys
    _, state_dict = load_fixture()
    assert {k: tuple(v.shape) for k, v in keys.items()} == {
        k: tuple(v.shape) for k, v in state_dict.items()}


def tolerance(features):
    return 1e-4 * max(f.abs().max().item() for f in features)


def test_parity_with_timm_ghostnetv2_100_features():
    fixture, state_dict = load_fixture()
    model = GhostNetV2(1.0, out_indices=ALL).eval()
    model.load_state_dict({k: v for k, v in state_dict.items() if k not in CLASSIFIER_KEYS})
    with torch.no_grad():
        outs = model(fixture['input'].float())
    assert len(outs) == len(fixture['features']) == 5
    for out, ref in zip(outs, fixture['features']):
        assert out.shape == ref.shape
        assert (out - ref).abs().max().item() <= tolerance(fixture['features'])


def test_parity_with_timm_ghostnetv2_100_logits():
    fixture, state_dict = load_fixture()
    model = GhostNetV2(1.0, with_classifier=True).eval()
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        logits = model(fixture['input'].float())
    assert logits.shape == (2, 1000)
    assert (logits - fixture['logits']).abs().max().item() <= tolerance(fixture['features'])


def test_pretrained_init_loads_timm_weights_and_refuses_ghostnet_v1_s(tmp_path):
    _, state_dict = load_fixture()
    path = tmp_path / 'ghostnetv2_100.pth'
    torch.save(state_dict, path)  # a bare state_dict, as timm saves its weights
    model = GhostNetV2(1.0, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, state_dict[key]), key
    v1 = tmp_path / 'ghostnet_100.pth'
    torch.save(GhostNet(1.0).state_dict(), v1)
    model = GhostNetV2(1.0, init_cfg=dict(type='Pretrained', checkpoint=str(v1)))
    with pytest.raises(CheckpointMismatchError, match=r'missing from the checkpoint \(252\): '
                       r'blocks\.2\.0\.ghost1\.short_conv'):
        model.init_weights()
