import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ghostdet.models import GhostNet
from ghostdet.models.utils import CheckpointMismatchError
from ghostdet.utils.registry import build_model

from tests.helpers import (FIXTURES, assert_exports_like_eager, free_batch_and_image_size,
                           require_shared)

ALL = (0, 1, 2, 3, 4)


def check_norm_state(modules, train_state):
    return all(m.training == train_state for m in modules if isinstance(m, _BatchNorm))


def test_registered_in_mmdet_models():
    model = build_model(dict(type='GhostNet', widen_factor=1.1, out_indices=(1, 2, 4)))
    assert isinstance(model, GhostNet)


@pytest.mark.parametrize('widen_factor,channels', [
    (1.0, (24, 40, 112, 160, 960)),
    (0.5, (12, 20, 56, 80, 480)),
    (1.1, (28, 44, 124, 176, 1056)),
    (1.3, (32, 52, 144, 208, 1248)),
    (0.37, (8, 16, 40, 60, 356)),
])
def test_shapes_per_out_index(widen_factor, channels):
    model = GhostNet(widen_factor, out_indices=ALL).eval()
    assert model.out_channels == channels
    outs = model(torch.rand(1, 3, 64, 96))
    strides = (4, 8, 16, 32, 32)
    assert len(outs) == 5
    for out, c, s in zip(outs, channels, strides):
        assert out.shape == (1, c, 64 // s, 96 // s)


def test_out_indices_subset_and_order():
    model = GhostNet(out_indices=(4, 1)).eval()
    assert model.out_channels == (960, 40)
    outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [960, 40]


def test_odd_input_size():
    outs = GhostNet(out_indices=ALL).eval()(torch.rand(1, 3, 75, 99))
    assert [tuple(o.shape[2:]) for o in outs] == [(19, 25), (10, 13), (5, 7), (3, 4), (3, 4)]


@pytest.mark.parametrize('frozen_stages', [0, 1, 3, 5])
def test_frozen_stages(frozen_stages):
    model = GhostNet(frozen_stages=frozen_stages, out_indices=ALL)
    model.train()
    last_frozen = model.tap_blocks[frozen_stages - 1] if frozen_stages > 0 else -1
    frozen = [model.conv_stem, model.bn1] + list(model.blocks[:last_frozen + 1])
    trainable = list(model.blocks[last_frozen + 1:])
    assert len(frozen) - 2 + len(trainable) == 10
    for m in frozen:
        assert all(not p.requires_grad for p in m.parameters())
        assert check_norm_state(m.modules(), False)
    for m in trainable:
        assert all(p.requires_grad for p in m.parameters())
        assert check_norm_state(m.modules(), True)


@pytest.mark.parametrize('widen_factor', [1.0, 1.1])
def test_exports_with_free_batch_and_input_size(widen_factor):
    """torch.export with the batch and the input size (multiples of 32) left free."""
    assert_exports_like_eager(
        GhostNet(widen_factor, out_indices=ALL), (torch.rand(2, 3, 224, 320),),
        (free_batch_and_image_size(),),
        [(torch.rand(1, 3, 64, 96),), (torch.rand(3, 3, 480, 640),)])


def test_frozen_stages_minus_one_trains_everything():
    model = GhostNet(frozen_stages=-1)
    model.train()
    assert all(p.requires_grad for p in model.parameters())
    assert check_norm_state(model.modules(), True)


def test_norm_eval():
    model = GhostNet(norm_eval=True)
    model.train()
    assert check_norm_state(model.modules(), False)
    assert model.training
    assert all(p.requires_grad for p in model.parameters())


def test_norm_and_act_cfg():
    model = GhostNet(norm_cfg=dict(type='GN', num_groups=4), act_cfg=dict(type='HSwish'))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not any(type(m) is torch.nn.ReLU for m in model.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in model.modules())
    assert model(torch.rand(1, 3, 32, 32))[0].shape[1] == 40


@pytest.mark.parametrize('kwargs,match', [
    (dict(widen_factor=0), 'widen_factor'), (dict(widen_factor=-1.0), 'widen_factor'),
    (dict(widen_factor='1.0'), 'widen_factor'), (dict(out_indices=(5, )), r'range\(0, 5\)'),
    (dict(out_indices=(-1, )), r'range\(0, 5\)'), (dict(out_indices=()), 'out_indices'),
    (dict(frozen_stages=6), r'range\(-1, 6\)'), (dict(frozen_stages=-2), 'frozen_stages'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GhostNet(**kwargs)


def official_names_state_dict():
    """The 512 official parameter names: what a GhostNet 1.0x with its classifier holds."""
    return GhostNet(1.0, with_classifier=True).state_dict()


def test_parameter_names_equal_the_official_checkpoint():
    keys = list(official_names_state_dict())
    assert len(keys) == 512
    assert keys[:2] == ['conv_stem.weight', 'bn1.weight']
    assert 'blocks.3.0.se.conv_reduce.weight' in keys
    assert 'blocks.1.0.shortcut.3.running_var' in keys
    assert 'blocks.9.0.bn1.weight' in keys and keys[-1] == 'classifier.bias'
    detection_keys = set(GhostNet(1.0).state_dict())
    dropped = set(keys) - detection_keys
    assert dropped == {'conv_head.weight', 'conv_head.bias', 'classifier.weight',
                       'classifier.bias'}


def test_pretrained_init_loads_official_names_and_drops_only_classifier(tmp_path):
    source = GhostNet(1.0, with_classifier=True)
    path = tmp_path / 'state_dict_73.98.pth'
    torch.save(source.state_dict(), path)  # the official file is a bare state_dict
    model = GhostNet(1.0, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_pretrained_init_with_prefix_from_a_detector_checkpoint(tmp_path):
    source = GhostNet(1.1)
    path = tmp_path / 'detector.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in source.state_dict().items()}},
               path)
    model = GhostNet(1.1, init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                        prefix='backbone.'))
    model.init_weights()
    assert torch.equal(model.conv_stem.weight, source.conv_stem.weight)


def test_pretrained_init_reports_mismatched_keys(tmp_path):
    path = tmp_path / 'other_width.pth'
    torch.save(GhostNet(1.3).state_dict(), path)
    model = GhostNet(1.0, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointMismatchError, match=r'shape mismatch \(\d+\): conv_stem'):
        model.init_weights()
    path = tmp_path / 'partial.pth'
    partial = GhostNet(1.0).state_dict()
    partial.pop('blocks.0.0.ghost1.primary_conv.0.weight')
    partial['extra.weight'] = torch.zeros(1)
    torch.save(partial, path)
    model = GhostNet(1.0, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointMismatchError) as err:
        model.init_weights()
    assert 'missing from the checkpoint (1): blocks.0.0.ghost1.primary_conv.0.weight' in str(
        err.value)
    assert 'unexpected in the checkpoint (1): extra.weight' in str(err.value)


def load_fixture():
    fixture = torch.load(require_shared(FIXTURES / 'timm_ghostnet_100.pt'), weights_only=True)
    state_dict = {k: v.float() if v.is_floating_point() else v
                  for k, v in fixture['state_dict'].items()}
    return fixture, state_dict


def test_parity_with_timm_ghostnet_100_features():
    fixture, state_dict = load_fixture()
    model = GhostNet(widen_factor=1.0, out_indices=ALL).eval()
    own = model.state_dict()
    assert set(state_dict) - set(own) == {'conv_head.weight', 'conv_head.bias',
                                          'classifier.weight', 'classifier.bias'}
    model.load_state_dict({k: v for k, v in state_dict.items() if k in own})
    with torch.no_grad():
        outs = model(fixture['input'].float())
    assert len(outs) == len(fixture['features']) == 5
    for out, ref in zip(outs, fixture['features']):
        assert out.shape == ref.shape
        assert (out - ref).abs().max().item() <= 1e-4


def test_parity_with_timm_ghostnet_100_logits():
    fixture, state_dict = load_fixture()
    model = GhostNet(widen_factor=1.0, with_classifier=True).eval()
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        logits = model(fixture['input'].float())
    assert logits.shape == (2, 1000)
    assert (logits - fixture['logits']).abs().max().item() <= 1e-4
