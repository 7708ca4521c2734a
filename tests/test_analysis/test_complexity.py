import math

import pytest
import torch
import torch.nn as nn

from ghostdet.analysis import (PAPER_CLASSIFIERS, PAPER_DETECTION_BACKBONES, PaperMacCounter,
                               build_backbone, build_classifier, count_mmengine_flops,
                               count_paper_macs, count_params, detector_complexity,
                               format_complexity_table)
from ghostdet.apis import build_detector, replace_backbone
from ghostdet.models.layers import GhostModule

RETINANET = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
FASTER_RCNN = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
# four maps, strides 4 to 32, as mmdet's configs take from ResNet (their FPN starting at the
# second: with three, the maps' strides would be twice the anchors')
GHOSTNET = dict(type='GhostNet', widen_factor=0.5, out_indices=(0, 1, 2, 4))


def test_single_conv():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    macs, params = count_paper_macs(conv, torch.rand(1, 3, 10, 10))
    assert macs == 8 * 100 * 27 == 21600
    assert params == 8 * 27 + 8


def test_strided_conv_counts_output_positions():
    macs, _ = count_paper_macs(nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.rand(1, 3, 10, 10))
    assert macs == 4 * 5 * 5 * 27


def test_grouped_and_depthwise_conv():
    grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4)
    assert count_paper_macs(grouped, torch.rand(1, 8, 6, 6))[0] == 16 * 36 * (8 // 4) * 9
    depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
    assert count_paper_macs(depthwise, torch.rand(1, 8, 6, 6))[0] == 8 * 36 * 9


def test_transposed_conv():
    # each of the 4x3x3 inputs is scattered to 2 channels x 2x2 kernel positions
    deconv = nn.ConvTranspose2d(4, 2, 2, stride=2)
    assert count_paper_macs(deconv, torch.rand(1, 4, 3, 3))[0] == 36 * 2 * 4


def test_linear_2d_and_3d_inputs():
    fc = nn.Linear(10, 4)
    assert count_paper_macs(fc, torch.rand(2, 10)) == (2 * 4 * 10, 44)
    assert count_paper_macs(fc, torch.rand(2, 5, 10))[0] == 2 * 5 * 4 * 10


def test_bn_activation_pooling_cost_nothing():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1))
    macs, params = count_paper_macs(model, torch.rand(1, 3, 10, 10))
    assert macs == 21600
    assert params == 8 * 27 + 2 * 8  # BN weight and bias count as parameters


@pytest.mark.parametrize('out_channels', [32, 37])
def test_ghost_module_by_hand(out_channels):
    ratio, dw_size, hw = 2, 3, 8 * 8
    module = GhostModule(16, out_channels, ratio=ratio, dw_size=dw_size)
    init = math.ceil(out_channels / ratio)
    primary = init * hw * 16  # 1x1 conv 16 -> init
    cheap = init * (ratio - 1) * hw * dw_size**2  # depthwise dw_size x dw_size
    macs, _ = count_paper_macs(module, torch.rand(1, 16, 8, 8))
    assert macs == primary + cheap
    # the ghost module is cheaper than the 1x1 conv it replaces
    assert macs < out_channels * hw * 16


def test_ghost_module_ratio_3():
    module = GhostModule(16, 37, ratio=3)
    # 13 intrinsic maps, 26 ghosts (2 of them sliced away, but computed)
    assert count_paper_macs(module, torch.rand(1, 16, 8, 8))[0] == 13 * 64 * 16 + 26 * 64 * 9


def test_module_called_twice_counts_twice():

    class Twice(nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.conv(self.conv(x))

    assert count_paper_macs(Twice(), torch.rand(1, 3, 4, 4))[0] == 2 * 3 * 16 * 3


def test_batch_counts_every_image():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_paper_macs(conv, torch.rand(2, 3, 10, 10))[0] == 2 * 21600


def test_counter_by_module_and_hooks_removed():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(800, 2))
    with PaperMacCounter(model) as counter:
        model(torch.rand(1, 3, 10, 10))
    assert counter.by_module == {'0': 21600, '2': 1600}
    assert counter.total == 23200
    assert not model[0]._forward_hooks and not model[2]._forward_hooks
    model(torch.rand(1, 3, 10, 10))
    assert counter.total == 23200


def test_training_flags_and_bn_statistics_are_kept():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)).train()
    model[0].eval()
    before = model[1].running_mean.clone()
    count_paper_macs(model, torch.rand(2, 3, 10, 10) + 5)
    assert model.training and model[1].training and not model[0].training
    assert torch.equal(model[1].running_mean, before)


def test_mmengine_flops_match_on_conv_and_exceed_with_bn():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.rand(1, 3, 10, 10)
    assert count_mmengine_flops(conv, x) == 21600
    with_bn = nn.Sequential(conv, nn.BatchNorm2d(8))
    assert count_mmengine_flops(with_bn, x) > count_paper_macs(with_bn, x)[0]


def _by_name(rows):
    return {r.name: r for r in rows}


def test_retinanet_components_by_hand():
    model = build_detector(replace_backbone(RETINANET, GHOSTNET))
    rows = detector_complexity(model, (128, 160), with_mmengine=True)
    assert [r.name for r in rows] == ['backbone', 'neck', 'bbox_head', 'total']
    comp = _by_name(rows)
    assert comp['total'].params == count_params(model)
    assert sum(r.params for r in rows[:-1]) == count_params(model)
    assert comp['total'].macs == sum(r.macs for r in rows[:-1])
    assert comp['backbone'].macs == count_paper_macs(model.backbone, torch.rand(1, 3, 128, 160))[0]
    # RetinaNet head: 4 + 4 convs 256->256 3x3, cls 256 -> 9 x 80, reg 256 -> 9 x 4, per position
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 128, 160))
    positions = sum(f.shape[2] * f.shape[3] for f in feats)
    per_position = 8 * 256 * 256 * 9 + 256 * 9 * (9 * 80) + 256 * 9 * (9 * 4)
    assert comp['bbox_head'].macs == positions * per_position
    # mmengine counts the same convs plus BN (backbone) and upsampling (neck)
    assert comp['bbox_head'].mmengine_flops == comp['bbox_head'].macs
    assert comp['backbone'].mmengine_flops > comp['backbone'].macs
    assert comp['total'].mmengine_flops == sum(r.mmengine_flops for r in rows[:-1])
    table = format_complexity_table(rows)
    assert '| **total** | 1x3x128x160 |' in table
    assert f'{comp["total"].macs / 1e9:.3f}' in table


def test_faster_rcnn_roi_head_at_stated_proposals():
    model = build_detector(
        replace_backbone(FASTER_RCNN, GHOSTNET))
    rows = detector_complexity(model, (100, 120), num_proposals=10, with_mmengine=False)
    assert [r.name for r in rows] == ['backbone', 'neck', 'rpn_head', 'roi_head', 'total']
    comp = _by_name(rows)
    assert comp['backbone'].input == '1x3x128x128'  # padded to multiples of 32
    assert comp['roi_head'].input == '10 RoIs'
    assert comp['total'].mmengine_flops is None
    # Shared2FCBBoxHead: 256x7x7 -> 1024 -> 1024, cls 81, reg 80 x 4, per RoI
    per_roi = 256 * 49 * 1024 + 1024 * 1024 + 1024 * 81 + 1024 * 320
    assert comp['roi_head'].macs == 10 * per_roi
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 128, 128))
    positions = sum(f.shape[2] * f.shape[3] for f in feats)
    assert comp['rpn_head'].macs == positions * (256 * 256 * 9 + 256 * 3 + 256 * 3 * 4)
    unpadded = detector_complexity(model, (100, 120), 10, with_mmengine=False, pad=False)
    assert unpadded[0].input == '1x3x100x120'
    assert unpadded[-1].macs < comp['total'].macs


def test_detector_complexity_bad_arguments():
    model = build_detector(replace_backbone(RETINANET, GHOSTNET))
    with pytest.raises(ValueError, match='shape'):
        detector_complexity(model, (128, ))
    with pytest.raises(ValueError, match='num_proposals'):
        detector_complexity(model, (128, 128), num_proposals=0)


# --- the papers' numbers (224x224, paper convention), each within 2% -------------------------
X224 = torch.rand(1, 3, 224, 224)


def _rel(ours, paper):
    return abs(ours - paper) / paper


@pytest.mark.parametrize('name', sorted(PAPER_CLASSIFIERS))
def test_whole_classifier_macs_match_paper(name):
    macs, _ = count_paper_macs(build_classifier(name), X224)
    assert _rel(macs, PAPER_CLASSIFIERS[name].macs) <= 0.02, macs


@pytest.mark.parametrize('name', [
    'GhostNet 0.5x', 'GhostNet 1.0x', 'GhostNet 1.3x', 'GhostNetV2 1.0x', 'GhostNetV3 1.0x',
    'MobileNetV3-Large', 'MobileNetV3-Small'
])
def test_whole_classifier_params_match_paper(name):
    params = count_params(build_classifier(name))
    assert _rel(params, PAPER_CLASSIFIERS[name].params) <= 0.02, params


def test_exact_counts_of_reference_implementations():
    # timm ghostnet_100 and torchvision mobilenet_v3_large/_small/mobilenet_v2 parameter counts
    assert count_params(build_classifier('GhostNet 1.0x')) == 5_182_508
    # timm ghostnetv2_100 (the parameters of its fixture)
    assert count_params(build_classifier('GhostNetV2 1.0x')) == 6_156_908
    assert count_params(build_classifier('MobileNetV3-Large')) == 5_483_032
    assert count_params(build_classifier('MobileNetV3-Small')) == 2_542_856
    # MobileNetV2: 3.50M as torchvision's; the MobileNetV2 paper says 3.4M (not reproduced)
    assert count_params(build_classifier('MobileNetV2 1.0x')) == 3_504_872


def test_detection_table_backbone_numbers():
    # GhostNet 1.1x: 164M is the backbone without conv_head/classifier (with them: 167.0M)
    ghost = count_paper_macs(build_backbone('GhostNet 1.1x'), X224)[0]
    assert _rel(ghost, PAPER_DETECTION_BACKBONES['GhostNet 1.1x']) <= 0.005, ghost
    # MobileNetV2: 300M, backbone (with its 1280 conv) or whole classifier alike
    for model in (build_backbone('MobileNetV2 1.0x'), build_classifier('MobileNetV2 1.0x')):
        mbv2 = count_paper_macs(model, X224)[0]
        assert _rel(mbv2, PAPER_DETECTION_BACKBONES['MobileNetV2 1.0x']) <= 0.02, mbv2
    # MobileNetV3-Large: 219M is the whole classifier's published number (216.6M here); the
    # backbone alone is 214.1M, 2.2% below, so the table reused the classifier number
    mbv3_cls = count_paper_macs(build_classifier('MobileNetV3-Large'), X224)[0]
    assert _rel(mbv3_cls, PAPER_DETECTION_BACKBONES['MobileNetV3-Large']) <= 0.02, mbv3_cls
    mbv3 = count_paper_macs(build_backbone('MobileNetV3-Large'), X224)[0]
    assert mbv3 == 214_080_960
