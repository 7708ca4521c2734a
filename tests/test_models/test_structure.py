from unittest import mock

import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import MobileNetV2
from mmdet.models.necks import BFP, FPN, ChannelMapper, YOLOV3Neck
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.registry import DefaultScope

from ghostdet.apis import load_config
from ghostdet.models import structure
from ghostdet.models import (GhostNet, HeadChannelsMismatchError, HeadStridesMismatchError,
                             MobileNetV3, NeckChannelsMismatchError, backbone_out_channels,
                             check_channels, check_config_channels, feature_channels,
                             feature_strides)
from tests.helpers import REPO

QUICKSTART = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'
FASTER_RCNN = REPO / 'configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py'
SSDLITE = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'


def build(model_cfg):
    with DefaultScope.overwrite_default_scope('mmdet'):  # as the Runner builds
        return MODELS.build(model_cfg)


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
    check_channels(model)  # as configured: fits
    cfg.model.backbone.widen_factor = 1.1  # the backbone changed, the neck not
    with pytest.raises(NeckChannelsMismatchError,
                       match=r'^model.neck.in_channels=\[40, 112, 960\], but the backbone '
                       r'\(GhostNet\) outputs 3 feature maps of \[44, 124, 1056\] channels: set '
                       r'model.neck.in_channels=\[44, 124, 1056\]'):
        check_channels(MODELS.build(cfg.model))
    cfg = load_config(QUICKSTART)
    cfg.model.backbone.out_indices = (0, 1, 2, 4)  # one map more than the neck takes
    with pytest.raises(NeckChannelsMismatchError, match=r'outputs 4 feature maps of \[24, '):
        check_channels(MODELS.build(cfg.model))


def test_a_backbone_without_out_channels_is_probed_without_side_effects():
    backbone = MobileNetV2(out_indices=(2, 4, 7))
    backbone.train()
    wrong, right = (Detector(backbone, FPN([32, 96, c], 16, 3)) for c in (320, 1280))
    buffers = {k: v.clone() for k, v in backbone.state_dict().items()}
    rng = torch.get_rng_state()
    with pytest.raises(NeckChannelsMismatchError, match=r'of \[32, 96, 1280\] channels'):
        check_channels(wrong)
    check_channels(right)
    assert all(m.training for m in backbone.modules())  # the training flags are restored
    assert all(torch.equal(v, buffers[k]) for k, v in backbone.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)  # no random draw: training is unchanged


def test_necks_of_other_types_and_orders_are_checked():
    backbone = GhostNet(1.0, out_indices=(1, 2, 4))
    for neck, setting in ((ChannelMapper([1, 2, 3], 8), 'neck'),  # keeps no in_channels
                          (nn.Sequential(FPN([1, 2, 3], 8, 3)), r'neck\.0')):  # a list of necks
        with pytest.raises(NeckChannelsMismatchError, match=rf'set model.{setting}.in_channels='
                           r'\[40, 112, 960\], or'):
            check_channels(Detector(backbone, neck))
    check_channels(Detector(backbone, ChannelMapper([40, 112, 960], 8)))
    yolo = YOLOV3Neck(3, in_channels=[960, 112, 40], out_channels=[32, 16, 8])
    check_channels(Detector(backbone, yolo))  # deepest map first, as mmdet's YOLOv3 has it
    yolo = YOLOV3Neck(3, in_channels=[40, 112, 960], out_channels=[32, 16, 8])
    with pytest.raises(NeckChannelsMismatchError, match=r'of \[40, 112, 960\] channels: set '
                       r'model.neck.in_channels=\[960, 112, 40\] \(deepest map first\)'):
        check_channels(Detector(backbone, yolo))


def test_what_is_not_checked():
    backbone = GhostNet(1.0, out_indices=(1, 2, 4))
    check_channels(Detector(backbone))  # no neck
    check_channels(Detector(backbone, nn.Identity()))  # a neck of another type
    check_channels(nn.Linear(2, 2))  # no backbone (an ONNX network has none)
    detector = Detector(backbone, FPN([40, 112, 960], 8, 3))
    detector.bbox_head = nn.Conv2d(5, 5, 1)  # a head whose in_channels do not fit, in a model
    detector.bbox_head.in_channels = 5       # of another kind (DETR types): not checked
    check_channels(detector)


@pytest.mark.parametrize('config,stale', [
    ('yolof/yolof_r50-c5_8xb8-1x_coco.py', 2048),  # DilatedEncoder
    ('centernet/centernet_r18_8xb16-crop512-140e_coco.py', 512),  # CTResNetNeck
])
def test_necks_that_take_the_deepest_map_only_are_checked(config, stale):
    """YOLOF's and CenterNet's necks take one map, the deepest: ``in_channels`` is a number
    (a built CTResNetNeck reuses ``in_channels`` for its own width: its first conv's count)."""
    cfg = load_config(f'mmdet::{config}')
    cfg.model.backbone = dict(type='GhostNet', widen_factor=1.0, out_indices=(2, 4))
    match = (rf'model.neck.in_channels={stale}, but the backbone \(GhostNet\) outputs 2 '
             r'feature maps of \[112, 960\] channels, the neck takes the last: set '
             r'model.neck.in_channels=960, or ')
    with pytest.raises(NeckChannelsMismatchError, match=rf'^the config: {match}'):
        check_config_channels(cfg)
    with pytest.raises(NeckChannelsMismatchError, match=rf'^{match}'):
        check_channels(build(cfg.model))
    cfg.model.backbone.out_indices = (4, )
    with pytest.raises(NeckChannelsMismatchError, match=r'outputs 1 feature map of \[960\] '
                       r'channels: set model.neck.in_channels=960, or '):
        check_config_channels(cfg)
    cfg.model.neck.in_channels = 960
    check_config_channels(cfg)
    model = build(cfg.model)
    check_channels(model)
    with torch.no_grad():
        assert len(model.eval().extract_feat(torch.zeros(1, 3, 64, 64))) == 1  # it runs


def test_a_neck_after_another_is_checked_against_it():
    """Libra R-CNN's BFP (after an FPN) takes maps of one width, its ``in_channels``; a
    narrowed FPN is named in the neck after it first, then in the heads."""
    cfg = load_config('mmdet::libra_rcnn/libra-faster-rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone = dict(type='GhostNet', widen_factor=1.0, out_indices=(0, 1, 2, 4))
    with pytest.raises(NeckChannelsMismatchError, match=r'^the config: model.neck.0.in_channels'
                       r'=\[256, 512, 1024, 2048\], but the backbone \(GhostNet\) outputs 4 '
                       r'feature maps of \[24, 40, 112, 960\] channels: set model.neck.0.in_'
                       r'channels=\[24, 40, 112, 960\], or '):
        check_config_channels(cfg)
    cfg.model.neck[0].in_channels = [24, 40, 112, 960]
    check_config_channels(cfg)
    cfg.model.neck[0].out_channels = 128
    match = (r'model.neck.1.in_channels=256, but the neck before it \(FPN\) outputs 5 feature '
             r'maps of \[128, 128, 128, 128, 128\] channels: set model.neck.1.in_channels=128$')
    with pytest.raises(NeckChannelsMismatchError, match=rf'^the config: {match}'):
        check_config_channels(cfg)
    model = build(cfg.model)
    with pytest.raises(NeckChannelsMismatchError, match=rf'^{match}'):
        check_channels(model)
    cfg.model.neck[1].in_channels = 128
    with pytest.raises(HeadChannelsMismatchError, match=r'^the config: model.rpn_head.in_'
                       r'channels=256, .*, but the necks \(FPN, BFP\) output 5 feature maps '):
        check_config_channels(cfg)
    backbone = GhostNet(1.0, out_indices=(1, 2, 4))
    with pytest.raises(NeckChannelsMismatchError, match=r'^model.neck.in_channels=7, but the '
                       r'backbone \(GhostNet\) outputs 3 feature maps of \[40, 112, 960\] '
                       r'channels, the neck takes maps of one width only$'):
        check_channels(Detector(backbone, BFP(7, 3)))  # no setting of BFP's fixes it


def test_a_model_a_small_probe_cannot_run_through_is_probed_larger():
    """A 64x64 zero image is too small for SSD512's last neck layers (and for DetectoRS, deep
    FPNs, ...): a 512x512 one is run then, instead of leaving the check undone."""
    cfg = load_config('mmdet::ssd/ssd512_coco.py')
    check_config_channels(cfg)
    cfg.model.bbox_head.in_channels = (512, 1024, 512, 256, 256, 256, 128)
    with pytest.raises(HeadChannelsMismatchError, match=r'outputs 7 feature maps of \[512, 1024, '
                       r'512, 256, 256, 256, 256\] channels: set model.bbox_head.in_channels='):
        check_config_channels(cfg)

    class Wide(nn.Module):  # needs 100 pixels a side
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 100)

        def forward(self, x):
            return (self.conv(x), )

    assert backbone_out_channels(Wide()) == (8, )
    assert feature_channels(Wide(), FPN([8], 4, 1)) == (4, )
    with pytest.raises(RuntimeError, match=r'input size per channel: \(512 x 512\)'):
        backbone_out_channels(nn.Sequential(nn.Conv2d(3, 8, 600)))  # none runs: the last error


def test_heads_whose_strides_the_maps_do_not_have_are_named():
    """mmdet's RetinaNet starts its FPN at the second of ResNet's four maps; with GhostNet's
    three (strides 8, 16, 32) the channels fit once set, but the maps are twice as coarse as
    the anchors' strides: it would train, badly, without a word."""
    assert feature_strides(GhostNet(1.0, out_indices=(0, 1, 2, 3, 4))) == (4, 8, 16, 32, 32)
    cfg = load_config('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')
    cfg.model.backbone = dict(type='GhostNet', widen_factor=1.0, out_indices=(1, 2, 4))
    cfg.model.neck.in_channels = [40, 112, 960]
    with pytest.raises(HeadStridesMismatchError, match=r'^the config: model.bbox_head.anchor_'
                       r'generator.strides=\[8, 16, 32, 64, 128\], but the neck \(FPN\) outputs '
                       r'5 feature maps of strides \[16, 32, 64, 128, 256\] \(a 512x512 image '
                       r'gives maps \[32, 16, 8, 4, 2\] wide\): set model.bbox_head.anchor_'
                       r'generator.strides=\[16, 32, 64, 128, 256\], or change the maps '):
        check_config_channels(cfg)
    model = build(cfg.model).train()  # unchecked, it trains: a loss step, no error
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, 128, 128)], num_items=[2],
                            num_classes=80, with_mask=False)
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    assert all(torch.isfinite(sum(v)) for v in losses.values())
    cfg.model.neck.start_level = 0  # all three maps: strides 8 to 128
    probes = []
    probed = structure._probed
    with mock.patch.object(structure, '_probed',
                           lambda *args: probes.append(args[2:]) or probed(*args)):
        check_config_channels(cfg)
    assert probes == [((512, ), )]  # one forward for the heads' channels and strides

    cfg = load_config('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone = dict(type='GhostNet', widen_factor=1.0, out_indices=(1, 2, 3, 4))
    cfg.model.neck.in_channels = [40, 112, 160, 960]  # two maps of stride 32
    with pytest.raises(HeadStridesMismatchError, match=r'^the config: model.rpn_head.anchor_'
                       r'generator.strides=\[4, 8, 16, 32, 64\], model.roi_head.bbox_roi_'
                       r'extractor.featmap_strides=\[4, 8, 16, 32\], but the neck \(FPN\) '
                       r'outputs 5 feature maps of strides \[8, 16, 32, 32, 64\] .*: set '
                       r'model.rpn_head.anchor_generator.strides=\[8, 16, 32, 32, 64\], '
                       r'model.roi_head.bbox_roi_extractor.featmap_strides=\[8, 16, 32, 32\], '):
        check_config_channels(cfg)
    cfg.model.backbone.out_indices = (0, 1, 2, 4)
    cfg.model.neck.in_channels = [24, 40, 112, 960]
    check_config_channels(cfg)


def test_yolov3_box_decoding_strides_are_compared_with_its_anchors():
    """YOLOv3's head decodes its boxes and places its targets with ``featmap_strides``, beside
    the anchors' strides: a swap that feeds it finer maps names both; a stride mistyped in
    the decoding alone is named alone (it would decode every box of that map wrongly)."""
    cfg = load_config('mmdet::yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py')
    check_config_channels(cfg)
    cfg.model.backbone = dict(type='GhostNet', widen_factor=1.0, out_indices=(0, 1, 2))
    cfg.model.neck.in_channels = [112, 40, 24]  # fits the channels: deepest map first
    with pytest.raises(HeadStridesMismatchError, match=r'^the config: model.bbox_head.anchor_'
                       r'generator.strides=\[32, 16, 8\], model.bbox_head.featmap_strides='
                       r'\[32, 16, 8\], but the neck \(YOLOV3Neck\) outputs 3 feature maps of '
                       r'strides \[16, 8, 4\] .*: set model.bbox_head.anchor_generator.strides='
                       r'\[16, 8, 4\], model.bbox_head.featmap_strides=\[16, 8, 4\], or change'):
        check_config_channels(cfg)
    cfg.model.backbone.out_indices = (1, 2, 4)
    cfg.model.neck.in_channels = [960, 112, 40]
    check_config_channels(cfg)
    cfg.model.bbox_head.featmap_strides = [32, 16, 16]
    with pytest.raises(HeadStridesMismatchError, match=r'^the config: model.bbox_head.featmap_'
                       r'strides=\[32, 16, 16\], but .*: set model.bbox_head.featmap_strides='
                       r'\[32, 16, 8\], or change'):
        check_config_channels(cfg)


def test_heads_left_with_the_old_neck_width_are_named_with_every_setting_to_change():
    cfg = load_config(QUICKSTART)
    check_channels(MODELS.build(cfg.model))  # as configured: fits
    cfg.model.neck.out_channels = 32  # a narrower neck, its head not changed
    with pytest.raises(HeadChannelsMismatchError,
                       match=r'^model.bbox_head.in_channels=64, but the neck \(FPN\) outputs 5 '
                       r'feature maps of \[32, 32, 32, 32, 32\] channels: set '
                       r'model.bbox_head.in_channels=32$'):
        check_channels(MODELS.build(cfg.model))
    with pytest.raises(HeadChannelsMismatchError, match=r'^quick.py: model.bbox_head.in_'):
        check_config_channels(cfg, 'quick.py')

    cfg = load_config(FASTER_RCNN)
    check_config_channels(cfg)
    cfg.model.neck.out_channels = 128
    settings = ('model.rpn_head.in_channels', 'model.roi_head.bbox_roi_extractor.out_channels',
                'model.roi_head.bbox_head.in_channels')
    message = (', '.join(f'{s}=256' for s in settings) + ', but the neck (FPN) outputs 5 '
               'feature maps of [128, 128, 128, 128, 128] channels: set '
               + ', '.join(f'{s}=128' for s in settings))
    cfg.model.backbone.pop('init_cfg', None)
    for check, model in ((check_channels, build(cfg.model)), (check_config_channels, cfg)):
        with pytest.raises(HeadChannelsMismatchError) as error:
            check(model)
        assert str(error.value).endswith(message)
    cfg.model.rpn_head.in_channels = 128  # one changed: the others are still named
    with pytest.raises(HeadChannelsMismatchError, match=r'^the config: model.roi_head.bbox_roi_'
                       r'extractor.out_channels=256, model.roi_head.bbox_head.in_channels=256, '):
        check_config_channels(cfg)


def test_cascade_heads_are_named_one_by_one():
    cfg = load_config('mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone = dict(type='GhostNet', widen_factor=1.0, out_indices=(0, 1, 2, 4))
    cfg.model.neck.in_channels = [24, 40, 112, 960]
    check_config_channels(cfg)
    cfg.model.roi_head.bbox_head[2].in_channels = 128
    match = (r'^model.roi_head.bbox_head.2.in_channels=128, but the neck \(FPN\) outputs 5 '
             r'feature maps of \[256, 256, 256, 256, 256\] channels: set '
             r'model.roi_head.bbox_head.2.in_channels=256$')
    with pytest.raises(HeadChannelsMismatchError, match=match):
        check_channels(build(cfg.model))  # a ModuleList of heads and extractors
    with pytest.raises(HeadChannelsMismatchError, match=match[1:]):
        check_config_channels(cfg)


def test_ssdlite_with_a_swapped_backbone_is_checked_neck_then_head():
    """mmdet's SSDLite, its MobileNetV2 swapped for GhostNet: SSDNeck's and SSDHead's
    ``in_channels`` list one width per map (a built SSDNeck keeps none: the config is checked)."""
    cfg = load_config(SSDLITE)
    check_config_channels(cfg)
    cfg.model.backbone = dict(type='GhostNet', widen_factor=1.0, out_indices=(2, 4))
    with pytest.raises(NeckChannelsMismatchError, match=r'^the config: model.neck.in_channels='
                       r'\[96, 1280\], but the backbone \(GhostNet\) outputs 2 feature maps '
                       r'of \[112, 960\] channels: set model.neck.in_channels=\[112, 960\] '
                       r'and model.neck.out_channels=\[112, 960, 512, 256, 256, 128\], or '):
        check_config_channels(cfg)
    cfg.model.neck.in_channels = [112, 960]
    cfg.model.neck.out_channels = [112, 960, 512, 256, 256, 128]
    with pytest.raises(HeadChannelsMismatchError, match=r'^the config: model.bbox_head.in_'
                       r'channels=\[96, 1280, 512, 256, 256, 128\], but the neck \(SSDNeck\) '
                       r'outputs 6 feature maps of \[112, 960, 512, 256, 256, 128\] channels: '
                       r'set model.bbox_head.in_channels=\[112, 960, 512, 256, 256, 128\]$'):
        check_config_channels(cfg)
    cfg.model.bbox_head.in_channels = [112, 960, 512, 256, 256, 128]
    check_config_channels(cfg)
    model = build(cfg.model)
    check_channels(model)
    packed = demo_mm_inputs(batch_size=2, image_shapes=[(3, 320, 320)] * 2, num_items=[3, 2],
                            num_classes=80, with_mask=False)
    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')  # it trains
    assert all(torch.isfinite(sum(v) if isinstance(v, list) else v).all()
               for k, v in losses.items() if 'loss' in k)


@pytest.mark.parametrize('config', [
    'detectors/cascade-rcnn_r50-rfp_1x_coco.py',  # the backbone's first output is the image
    'faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py',  # a shared head widens RoI features
    'dyhead/atss_r50_fpn_dyhead_1x_coco.py',  # a list of necks
    'libra_rcnn/libra-faster-rcnn_r50_fpn_1x_coco.py',  # a neck of one width after the FPN
    'yolof/yolof_r50-c5_8xb8-1x_coco.py',  # the deepest map only
    'centernet/centernet_r18_8xb16-crop512-140e_coco.py',
    'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    'yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py',  # deepest map first
    'yolox/yolox_tiny_8xb8-300e_coco.py',
    'rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
    'detr/detr_r50_8xb2-150e_coco.py',  # a transformer: its neck only
])
def test_mmdets_own_configs_pass(config):
    """Configs mmdet trains as they are: no false alarm (every model config mmdet 3.3.0 ships
    that builds here passed, when written)."""
    check_config_channels(load_config(f'mmdet::{config}'), config)


def test_the_probe_through_the_neck_leaves_the_detector_as_it_was():
    model = build(load_config(QUICKSTART).model)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    assert feature_channels(model.backbone, model.neck) == (64, ) * 5
    check_channels(model)
    assert all(m.training for m in model.modules())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    assert feature_channels(model.backbone) == (40, 112, 960)  # no neck: the backbone's maps


def test_a_config_is_checked_before_any_runner_from_its_backbone_alone():
    cfg = load_config(QUICKSTART)
    check_config_channels(cfg, 'quick.py')  # as configured: fits
    cfg.model.backbone.widen_factor = 1.1
    with pytest.raises(NeckChannelsMismatchError,
                       match=r'^quick.py: model.neck.in_channels=\[40, 112, 960\], but the '
                       r'backbone \(GhostNet\) outputs 3 feature maps of \[44, 124, 1056\]'):
        check_config_channels(cfg, 'quick.py')
    for neck in (dict(type='GhostFPN', in_channels=[40, 112, 960], out_channels=64),
                 dict(type='mmdet.PAFPN', in_channels=[40, 112, 960], out_channels=64)):
        cfg.model.neck = neck  # FPN types under their names, with a scope too
        with pytest.raises(NeckChannelsMismatchError, match=r'\[44, 124, 1056\] channels'):
            check_config_channels(cfg)
    cfg.model.backbone = dict(type='MobileNetV2', out_indices=(2, 4, 7))  # probed, no attribute
    cfg.model.neck = dict(type='FPN', in_channels=[32, 96, 320], out_channels=8, num_outs=3)
    with pytest.raises(NeckChannelsMismatchError, match=r'\(MobileNetV2\) outputs 3 feature '
                       r'maps of \[32, 96, 1280\]'):
        check_config_channels(cfg)
    cfg.model.neck = dict(type='ChannelMapper', in_channels=[1, 2, 3], out_channels=8)
    with pytest.raises(NeckChannelsMismatchError, match=r'set model.neck.in_channels=\[32, '):
        check_config_channels(cfg)  # other neck types
    cfg.model.neck = [dict(type='FPN', in_channels=[1], out_channels=8, num_outs=1)]
    with pytest.raises(NeckChannelsMismatchError, match=r'set model.neck.0.in_channels=\[32, '):
        check_config_channels(cfg)  # the first of a list of necks
    cfg.model.neck = dict(type='BFP', in_channels=7, num_levels=3)
    with pytest.raises(NeckChannelsMismatchError, match=r'in_channels=7, .* one width only$'):
        check_config_channels(cfg)  # a number for every map
    cfg.model.neck = dict(type='BFP', in_channels=[7], num_levels=3)
    check_config_channels(cfg)  # not mmdet's form: BFP's own error will tell
    cfg.model.backbone = dict(type='NoSuchNet')
    cfg.model.neck = dict(type='FPN', in_channels=[1], out_channels=8, num_outs=1)
    with pytest.raises(KeyError, match='NoSuchNet'):  # the registry's error, now
        check_config_channels(cfg)
    cfg.model.backbone = dict(type='GhostNet', widen_factor=1.0, out_indices=(4, ))
    del cfg.model.neck  # the head takes the backbone's maps
    with pytest.raises(HeadChannelsMismatchError, match=r'^the config: model.bbox_head.in_'
                       r'channels=64, but the backbone \(GhostNet\) outputs 1 feature map of '
                       r'\[960\] channels: set model.bbox_head.in_channels=960$'):
        check_config_channels(cfg)
    cfg.model.backbone.out_indices = (1, 2, 4)
    with pytest.raises(HeadChannelsMismatchError, match=r'outputs 3 feature maps of \[40, 112, '
                       r'960\] channels; model.bbox_head.in_channels takes maps of one width'):
        check_config_channels(cfg)
    cfg.model.bbox_head.in_channels = [40, 112, 960]  # a list, as some heads take
    with pytest.raises(HeadStridesMismatchError, match=r'strides=\[8, 16, 32, 64, 128\], but '
                       r'the backbone \(GhostNet\) outputs 3 feature maps of strides \[8, 16, '
                       r'32\] '):
        check_config_channels(cfg)  # then the anchors: for five maps, not three
    cfg.model.bbox_head.anchor_generator.strides = [8, 16, 32]
    check_config_channels(cfg)


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
        check_config_channels(cfg)
