import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import MobileNetV2
from mmdet.models.necks import FPN, ChannelMapper
from mmdet.registry import MODELS

from ghostdet.analysis import load_config
from ghostdet.models import (GhostNet, MobileNetV3, NeckChannelsMismatchError,
                             backbone_out_channels, check_config_neck_channels,
                             check_neck_channels)
from tests.helpers import REPO

QUICKSTART = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'


class Detector(nn.Module):
    def __init__(self, backbone, neck=None):
        super().__init__()
        self.backbone = backbone
        if neck is not None:
            self.neck = neck


def test_backbone_out_channels_attribute_or_probe():
    assert backbone_out_channels(GhostNet(1.1, out_indices=(1, 2, 4))) == (44, 124, 1056)
    assert backbone_out_channels(MobileNetV3('large')) == (40, 112, 960)
    assert backbone_out_channels(MobileNetV2(out_indices=(2, 4, 7))) == (32, 96, 1280)


def test_a_swapped_backbone_the_neck_does_not_fit_is_named_with_the_setting():
    cfg = load_config(QUICKSTART)
    model = MODELS.build(cfg.model)
    check_neck_channels(model)  # as configured: fits
    cfg.model.backbone.widen_factor = 1.1  # the backbone changed, the neck not
    with pytest.raises(NeckChannelsMismatchError,
                       match=r'^model.neck.in_channels=\[40, 112, 960\], but the backbone '
                       r'\(GhostNet\) outputs 3 feature maps of \[44, 124, 1056\] channels: set '
                       r'model.neck.in_channels=\[44, 124, 1056\]'):
        check_neck_channels(MODELS.build(cfg.model))
    cfg = load_config(QUICKSTART)
    cfg.model.backbone.out_indices = (0, 1, 2, 4)  # one map more than the neck takes
    with pytest.raises(NeckChannelsMismatchError, match=r'outputs 4 feature maps of \[24, '):
        check_neck_channels(MODELS.build(cfg.model))


def test_a_backbone_without_out_channels_is_probed_without_side_effects():
    backbone = MobileNetV2(out_indices=(2, 4, 7))
    backbone.train()
    wrong, right = (Detector(backbone, FPN([32, 96, c], 16, 3)) for c in (320, 1280))
    buffers = {k: v.clone() for k, v in backbone.state_dict().items()}
    rng = torch.get_rng_state()
    with pytest.raises(NeckChannelsMismatchError, match=r'of \[32, 96, 1280\] channels'):
        check_neck_channels(wrong)
    check_neck_channels(right)
    assert all(m.training for m in backbone.modules())  # the training flags are restored
    assert all(torch.equal(v, buffers[k]) for k, v in backbone.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)  # no random draw: training is unchanged


def test_what_is_not_checked():
    backbone = GhostNet(1.0, out_indices=(1, 2, 4))
    check_neck_channels(Detector(backbone))  # no neck
    check_neck_channels(Detector(backbone, ChannelMapper([1, 2, 3], 8)))  # not an FPN
    check_neck_channels(Detector(backbone, nn.Sequential(FPN([1, 2, 3], 8, 3))))  # a list
    check_neck_channels(nn.Linear(2, 2))  # no backbone (an ONNX network has none)


def test_a_config_is_checked_before_any_runner_from_its_backbone_alone():
    cfg = load_config(QUICKSTART)
    check_config_neck_channels(cfg, 'quick.py')  # as configured: fits
    cfg.model.backbone.widen_factor = 1.1
    with pytest.raises(NeckChannelsMismatchError,
                       match=r'^quick.py: model.neck.in_channels=\[40, 112, 960\], but the '
                       r'backbone \(GhostNet\) outputs 3 feature maps of \[44, 124, 1056\]'):
        check_config_neck_channels(cfg, 'quick.py')
    for neck in (dict(type='GhostFPN', in_channels=[40, 112, 960], out_channels=64),
                 dict(type='mmdet.PAFPN', in_channels=[40, 112, 960], out_channels=64)):
        cfg.model.neck = neck  # FPN types under their names, with a scope too
        with pytest.raises(NeckChannelsMismatchError, match=r'\[44, 124, 1056\] channels'):
            check_config_neck_channels(cfg)
    cfg.model.backbone = dict(type='MobileNetV2', out_indices=(2, 4, 7))  # probed, no attribute
    cfg.model.neck = dict(type='FPN', in_channels=[32, 96, 320], out_channels=8, num_outs=3)
    with pytest.raises(NeckChannelsMismatchError, match=r'\(MobileNetV2\) outputs 3 feature '
                       r'maps of \[32, 96, 1280\]'):
        check_config_neck_channels(cfg)
    cfg.model.neck = dict(type='ChannelMapper', in_channels=[1, 2, 3], out_channels=8)
    check_config_neck_channels(cfg)  # not an FPN: its in_channels are not checked
    cfg.model.neck = [dict(type='FPN', in_channels=[1], out_channels=8, num_outs=1)]
    check_config_neck_channels(cfg)  # a list of necks
    cfg.model.backbone = dict(type='NoSuchNet')
    cfg.model.neck = dict(type='FPN', in_channels=[1], out_channels=8, num_outs=1)
    with pytest.raises(KeyError, match='NoSuchNet'):  # the registry's error, now
        check_config_neck_channels(cfg)
    del cfg.model.neck
    check_config_neck_channels(cfg)  # no neck


def test_a_config_backbone_is_built_in_the_configs_default_scope():
    """A downstream codebase's backbone, registered only in its own scope's registry, is
    found as the Runner finds it (``default_scope``), not refused as unknown to mmdet."""
    from mmengine.registry import MODELS as ROOT
    from mmengine.registry import Registry
    other = Registry('model', parent=ROOT, scope='otherdet', locations=['ghostdet.models'])

    @other.register_module()
    class TinyNet(nn.Module):
        out_channels = (8, 16, 32)

    cfg = load_config(QUICKSTART)
    cfg.model.backbone = dict(type='TinyNet')
    cfg.default_scope = 'otherdet'
    with pytest.raises(NeckChannelsMismatchError, match=r'\(TinyNet\) outputs 3 feature maps'):
        check_config_neck_channels(cfg)
