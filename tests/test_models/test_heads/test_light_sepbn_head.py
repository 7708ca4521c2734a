import pytest
import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule
from mmdet.models.dense_heads import RTMDetSepBNHead
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from ghostdet.models import GhostModule, LightSepBNHead
from ghostdet.utils.registry import build_model

STRIDES = [8, 16, 32, 64]
IMG = 128


def head_cfg(**kwargs):
    """RTMDet-tiny's head settings (mmdet's config) at 3 classes and 4 levels."""
    cfg = dict(
        type='LightSepBNHead',
        num_classes=3,
        in_channels=16,
        feat_channels=16,
        stacked_convs=2,
        with_objectness=False,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.1),
        anchor_generator=dict(type='MlvlPointGenerator', offset=0, strides=STRIDES),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        train_cfg=ConfigDict(assigner=dict(type='DynamicSoftLabelAssigner', topk=13),
                             allowed_border=-1, pos_weight=-1, debug=False),
        test_cfg=ConfigDict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                            nms=dict(type='nms', iou_threshold=0.6), max_per_img=100))
    cfg.update(kwargs)
    return cfg


def feats(batch=1, channels=16):
    return [torch.rand(batch, channels, IMG // s, IMG // s) for s in STRIDES]


def metas(batch=1):
    return [dict(img_shape=(IMG, IMG), pad_shape=(IMG, IMG), scale_factor=(1., 1.))
            for _ in range(batch)]


@pytest.mark.parametrize('conv_type', ['depthwise', 'ghost'])
def test_loss_is_finite_with_and_without_objects(conv_type):
    head = build_model(head_cfg(conv_type=conv_type))
    assert isinstance(head, LightSepBNHead) and isinstance(head, RTMDetSepBNHead)
    head.init_weights()
    head.train()
    cls_scores, bbox_preds = head(feats())
    empty = InstanceData(bboxes=torch.empty(0, 4), labels=torch.LongTensor([]))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [empty], metas())
    cls, bbox = sum(losses['loss_cls']), sum(losses['loss_bbox'])
    assert cls.item() > 0, 'with no objects the background is still learned'
    assert bbox.item() == 0, 'with no objects there is no box to regress'

    gt = InstanceData(bboxes=torch.Tensor([[23.6, 31.0, 64.2, 80.9], [5., 5., 30., 20.]]),
                      labels=torch.LongTensor([2, 0]))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [gt], metas())
    cls, bbox = sum(losses['loss_cls']), sum(losses['loss_bbox'])
    assert torch.isfinite(cls) and torch.isfinite(bbox)
    assert cls.item() > 0 and bbox.item() > 0
    (cls + bbox).backward()
    first = head.cls_convs[0][0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in first.parameters())


@pytest.mark.parametrize('conv_type', ['depthwise', 'ghost'])
def test_predict_shapes(conv_type):
    head = build_model(head_cfg(conv_type=conv_type, num_classes=5)).eval()
    with torch.no_grad():
        cls_scores, bbox_preds = head(feats(batch=2))
        results = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas(2),
                                       rescale=False)
    assert [tuple(c.shape) for c in cls_scores] == [(2, 5, IMG // s, IMG // s)
                                                    for s in STRIDES]
    assert [tuple(b.shape) for b in bbox_preds] == [(2, 4, IMG // s, IMG // s)
                                                    for s in STRIDES]
    assert len(results) == 2
    for result in results:
        assert result.bboxes.shape[1:] == (4, )
        assert len(result.bboxes) == len(result.scores) == len(result.labels) <= 100


def convs_and_norms(module):
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    return convs, norms


@pytest.mark.parametrize('conv_type,kind', [('depthwise', DepthwiseSeparableConvModule),
                                            ('ghost', GhostModule)])
def test_convs_shared_across_levels_norms_separate(conv_type, kind):
    head = build_model(head_cfg(conv_type=conv_type))
    for stacks in (head.cls_convs, head.reg_convs):
        assert len(stacks) == len(STRIDES)
        for i in range(2):
            ref_convs, ref_norms = convs_and_norms(stacks[0][i])
            assert isinstance(stacks[0][i], kind) and len(ref_convs) == len(ref_norms) == 2
            for level in stacks[1:]:
                convs, norms = convs_and_norms(level[i])
                assert all(a is b for a, b in zip(convs, ref_convs))
                assert not any(a is b for a, b in zip(norms, ref_norms))
    # cls and reg branches do not share, nor do the stacked convs among themselves
    assert head.cls_convs[0][0].parameters().__next__() is not \
        head.reg_convs[0][0].parameters().__next__()
    # one set of stacked conv weights, whatever the number of levels
    four = sum(p.numel() for p in head.parameters())
    two = sum(p.numel() for p in build_model(head_cfg(
        conv_type=conv_type, anchor_generator=dict(type='MlvlPointGenerator', offset=0,
                                                   strides=[8, 16]))).parameters())
    per_level_norms_and_preds = sum(
        p.numel() for m in (*convs_and_norms(head.cls_convs[1])[1],
                            *convs_and_norms(head.reg_convs[1])[1], head.rtm_cls[1],
                            head.rtm_reg[1]) for p in m.parameters())
    assert four - two == 2 * per_level_norms_and_preds


@pytest.mark.parametrize('conv_type', ['depthwise', 'ghost'])
def test_training_one_level_conv_changes_every_level_but_not_their_norms(conv_type):
    """A step on level 0's convolution weights moves level 2's features (one convolution);
    a change of level 0's norm statistics does not (a norm per level)."""
    head = build_model(head_cfg(conv_type=conv_type)).eval()
    x = torch.rand(1, 16, 8, 8)
    with torch.no_grad():
        before = _stack(head.cls_convs[2], x)
        for norm in convs_and_norms(head.cls_convs[0])[1]:
            norm.running_mean.add_(1.0)
        assert torch.equal(_stack(head.cls_convs[2], x), before)
        for conv in convs_and_norms(head.cls_convs[0])[0]:
            conv.weight.mul_(2.0)
        assert not torch.allclose(_stack(head.cls_convs[2], x), before)


def _stack(stack, x):
    for layer in stack:
        x = layer(x)
    return x


def test_share_conv_false_gives_each_level_its_own_convs():
    head = build_model(head_cfg(share_conv=False))
    assert convs_and_norms(head.cls_convs[1][0])[0][0] is not \
        convs_and_norms(head.cls_convs[0][0])[0][0]


def test_kernel_sizes_and_ghost_settings():
    dw = build_model(head_cfg(conv_type='depthwise', kernel_size=3))
    assert dw.cls_convs[0][0].depthwise_conv.conv.kernel_size == (3, 3)
    assert dw.cls_convs[0][0].depthwise_conv.conv.groups == 16
    default = build_model(head_cfg()).reg_convs[3][1]
    assert isinstance(default, GhostModule)
    assert default.primary_conv[0].kernel_size == (1, 1)
    assert default.cheap_operation[0].kernel_size == (5, 5)
    ghost = build_model(head_cfg(ghost_kernel_size=3, ghost_ratio=4, kernel_size=7))
    module = ghost.reg_convs[3][1]
    assert module.primary_conv[0].kernel_size == (3, 3)
    assert module.primary_conv[0].out_channels == 4
    assert module.cheap_operation[0].kernel_size == (7, 7)
    assert isinstance(module.primary_conv[2], nn.LeakyReLU)


@pytest.mark.parametrize('kwargs,match', [
    (dict(conv_type='dense'), 'conv_type'), (dict(kernel_size=4), 'kernel_size'),
    (dict(ghost_kernel_size=0), 'ghost_kernel_size'), (dict(ghost_ratio=1), 'ratio'),
    (dict(use_depthwise=True), "conv_type='depthwise'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(head_cfg(**kwargs))
