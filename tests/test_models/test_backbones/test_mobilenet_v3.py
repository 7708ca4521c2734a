import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ghostdet.models import MobileNetV3
from ghostdet.models.converters import convert_torchvision_mobilenetv3
from ghostdet.utils.registry import build_model
from tests.helpers import (FIXTURES, assert_exports_like_eager, free_batch_and_image_size,
                           require_shared)

TAPS = {'large': ((24, 40, 112, 960), (3, 6, 12, 16)),
        'small': ((16, 24, 48, 576), (1, 3, 8, 12))}


def test_registered_in_mmdet_models():
    assert isinstance(build_model(dict(type='MobileNetV3', arch='small')), MobileNetV3)


@pytest.mark.parametrize('arch', ['large', 'small'])
def test_taps_at_the_end_of_each_stride_stage(arch):
    channels, features = TAPS[arch]
    model = MobileNetV3(arch, out_indices=(0, 1, 2, 3)).eval()
    assert model.out_channels == channels
    assert model.tap_features == features
    outs = model(torch.rand(1, 3, 96, 64))
    for out, c, s in zip(outs, channels, (4, 8, 16, 32)):
        assert out.shape == (1, c, 96 // s, 64 // s)


@pytest.mark.parametrize('arch', ['large', 'small'])
def test_exports_with_free_batch_and_input_size(arch):
    """torch.export with the batch and the input size (multiples of 32) left free."""
    assert_exports_like_eager(
        MobileNetV3(arch, out_indices=(0, 1, 2, 3)), (torch.rand(2, 3, 224, 320),),
        (free_batch_and_image_size(),),
        [(torch.rand(1, 3, 64, 96),), (torch.rand(3, 3, 480, 640),)])


def test_composed_from_mmdet_layers():
    from mmcv.cnn import ConvModule
    from mmdet.models.layers import InvertedResidual, SELayer
    model = MobileNetV3('large')
    assert isinstance(model.features[0], ConvModule)
    assert all(isinstance(m, InvertedResidual) for m in model.features[1:16])
    assert sum(isinstance(m, SELayer) for m in model.modules()) == 8
    assert not model.features[1].with_expand_conv and model.features[2].with_expand_conv
    assert model.features[4].se.conv1.conv.out_channels == 24  # torchvision: 72 // 4 -> 24


def test_widen_factor():
    model = MobileNetV3('large', widen_factor=0.75, out_indices=(0, 1, 2, 3))
    assert model.out_channels == (24, 32, 88, 720)  # torchvision _make_divisible(c * 0.75, 8)
    assert model(torch.rand(1, 3, 64, 64))[3].shape == (1, 720, 2, 2)


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages_and_norm_eval(frozen_stages):
    model = MobileNetV3('small', frozen_stages=frozen_stages)
    model.train()
    last = 0 if frozen_stages == 0 else model.tap_features[frozen_stages - 1]
    for i, layer in enumerate(model.features):
        frozen = i <= last
        assert all(p.requires_grad != frozen for p in layer.parameters())
        assert all(m.training != frozen for m in layer.modules() if isinstance(m, _BatchNorm))
    model = MobileNetV3('small', norm_eval=True)
    model.train()
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='medium'), 'large'), (dict(widen_factor=0), 'widen_factor'),
    (dict(out_indices=(4, )), r'range\(0, 4\)'), (dict(frozen_stages=5), r'range\(-1, 5\)'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MobileNetV3(**kwargs)


@pytest.mark.parametrize('arch', ['large', 'small'])
def test_parity_with_torchvision_after_conversion(arch):
    fixture = torch.load(require_shared(FIXTURES / f'torchvision_mobilenet_v3_{arch}.pt'),
                         weights_only=True)
    state_dict = convert_torchvision_mobilenetv3(
        {k: v.float() if v.is_floating_point() else v for k, v in fixture['state_dict'].items()})
    model = MobileNetV3(arch, out_indices=(0, 1, 2, 3)).eval()
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        outs = model(fixture['input'].float())
    for out, ref in zip(outs, fixture['features']):
        assert out.shape == ref.shape
        assert (out - ref).abs().max().item() <= 1e-4


def test_converter_drops_classifier_and_rejects_unknown_keys():
    own = MobileNetV3('small').state_dict()
    # a torchvision-named state_dict, made by inverting our names for two keys
    tv = {'features.0.0.weight': own['features.0.conv.weight'],
          'features.1.block.1.fc1.bias': own['features.1.se.conv1.conv.bias'],
          'classifier.0.weight': torch.zeros(1)}
    out = convert_torchvision_mobilenetv3(tv)
    assert set(out) == {'features.0.conv.weight', 'features.1.se.conv1.conv.bias'}
    with pytest.raises(KeyError, match='backbone.conv1'):
        convert_torchvision_mobilenetv3({'backbone.conv1.weight': torch.zeros(1)})
