"""Every config under configs/ builds, wires its neck to its backbone, and runs loss and predict
on two small images of different sizes on the CPU. A new config is tested by existing."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules

from ghostdet.datasets import check_config_num_classes
from ghostdet.models import check_config_channels, check_channels
from ghostdet.utils.config import unreached_milestone_notes
from tests.helpers import REPO

CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)


def test_configs_exist():
    names = {p.name for p in CONFIGS}
    for detector in ('retinanet', 'faster-rcnn'):
        for part in ('ghostnet-1.1x_fpn', 'ghostnet-1.0x_fpn', 'ghostnet-1.1x_ghost-fpn',
                     'ghostnet-1.0x_ghost-fpn', 'mobilenetv3-large_fpn', 'mobilenetv2_fpn'):
            assert f'{detector}_{part}_1x_coco.py' in names


LIGHT_PARTS = ('ghostnet-1.0x_ghost-pan', 'ghostnet-0.5x_ghost-pan',
               'mobilenetv3-large_ghost-pan', 'mobilenetv2_ghost-pan')
LIGHT_COCO = [REPO / 'configs' / 'rtmdet' / f'rtmdet_{part}_300e_coco.py' for part in LIGHT_PARTS]
LIGHT_BCCD = REPO / 'configs' / 'bccd' / 'rtmdet'


def test_light_detector_configs_exist():
    names = {p.name for p in CONFIGS}
    for part in LIGHT_PARTS:
        assert f'rtmdet_{part}_300e_coco.py' in names
        assert f'rtmdet_{part}_50e_bccd.py' in names
    assert 'rtmdet_tiny_50e_bccd.py' in names  # mmdet's RTMDet-tiny, the BCCD peer


def unscoped(node):
    """A config's dicts without the ``_scope_`` keys mmengine adds to an ``mmdet::`` base's."""
    if isinstance(node, dict):
        return {k: unscoped(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return type(node)(unscoped(v) for v in node)
    return node


def without_model_parts(cfg: Config, parts=('backbone', 'neck', 'bbox_head')) -> dict:
    cfg = unscoped(cfg.to_dict())
    for part in parts:
        cfg['model'].pop(part)
    cfg.pop('custom_imports', None)
    return cfg


@pytest.mark.parametrize('config', LIGHT_COCO, ids=[p.name for p in LIGHT_COCO])
def test_light_coco_configs_keep_mmdet_rtmdet_tiny_recipe(config: Path):
    """mmdet's RTMDet-tiny recipe (data, schedule, optimizer, EMA, pipeline switch, assigner,
    losses, priors) with only backbone, neck and head changed, and ghostdet's hooks added."""
    from ghostdet.utils.config import config_file

    ref = Config.fromfile(config_file('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'))
    cfg = Config.fromfile(config)
    ours, theirs = without_model_parts(cfg), without_model_parts(ref)
    hooks = ours.pop('custom_hooks')
    assert hooks[:2] == theirs.pop('custom_hooks')  # EMAHook, PipelineSwitchHook
    assert [h['type'] for h in hooks[2:]] == ['FiniteLossHook', 'CheckpointKeysHook',
                                              'NumClassesCheckHook']
    assert ours.pop('sync_bn') == 'torch'
    assert ours == theirs
    head, ref_head = cfg.model.bbox_head, ref.model.bbox_head
    assert head.type == 'LightSepBNHead'
    for key in ('num_classes', 'loss_cls', 'loss_bbox', 'anchor_generator', 'bbox_coder',
                'stacked_convs', 'feat_channels', 'share_conv', 'with_objectness'):
        assert head[key] == ref_head[key], key
    assert cfg.model.neck.type == 'GhostPAN' and cfg.model.neck.out_channels == 96


def test_light_bccd_configs_share_one_budget():
    """The BCCD light detectors and their mmdet peers (RTMDet-tiny, SSDLite-MobileNetV2) differ
    in the model only (the light detectors and RTMDet-tiny also share losses, priors and
    widths), and share the BCCD data, schedule, runtime and seed of every BCCD config."""
    configs = sorted(LIGHT_BCCD.glob('*.py'))
    light = {f'rtmdet_{backbone}_ghost-pan_50e_bccd.py'
             for backbone in ('ghostnet-0.5x', 'ghostnet-1.0x', 'ghostnet-v2-1.0x',
                              'ghostnet-v3-1.0x', 'mobilenetv2', 'mobilenetv3-large')}
    peers = {'rtmdet_tiny_50e_bccd.py', 'ssdlite_mobilenetv2_50e_bccd.py'}
    assert {p.name for p in configs} == light | peers
    cfgs = {p.name: Config.fromfile(p) for p in configs}
    first = without_model_parts(cfgs['rtmdet_tiny_50e_bccd.py'])
    reference = Config.fromfile(REPO / 'configs' / 'bccd' /
                                'retinanet_ghostnet-1.0x_fpn_50e_bccd.py')
    tiny_head = cfgs['rtmdet_tiny_50e_bccd.py'].model.bbox_head
    first.pop('model')
    for name, cfg in cfgs.items():
        rest = without_model_parts(cfg)
        model = rest.pop('model')
        assert rest == first, name
        if name != 'ssdlite_mobilenetv2_50e_bccd.py':  # RTMDet: its preprocessor, assigner
            assert model == without_model_parts(cfgs['rtmdet_tiny_50e_bccd.py'])['model']
        head = cfg.model.bbox_head
        assert head.num_classes == 3, name
        if name in light:
            assert head.in_channels == cfg.model.neck.out_channels == 96, name
            for key in ('loss_cls', 'loss_bbox', 'anchor_generator', 'stacked_convs'):
                assert head[key] == tiny_head[key], name
            backbone = cfg.model.backbone
            assert backbone.norm_cfg == dict(type='BN', requires_grad=True), name
            assert backbone.get('norm_eval', False) is False and 'init_cfg' not in backbone, name
    from ghostdet.utils.config import config_file

    ssdlite = Config.fromfile(config_file(
        'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py')).model
    ssdlite.bbox_head.num_classes = 3
    assert cfgs['ssdlite_mobilenetv2_50e_bccd.py'].model == ssdlite  # mmdet's model, resolved
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
                'optim_wrapper', 'param_scheduler', 'custom_hooks', 'randomness'):
        assert first[key] == reference.to_dict()[key], key


def head_num_classes(model):
    head = model.roi_head.bbox_head if hasattr(model, 'roi_head') else model.bbox_head
    return head.num_classes


@pytest.mark.parametrize('config', CONFIGS, ids=[str(p.relative_to(REPO / 'configs'))
                                                  for p in CONFIGS])
def test_config_builds_and_runs_loss_and_predict(config: Path):
    register_all_modules()
    cfg = Config.fromfile(config)
    assert cfg.custom_imports == dict(imports=['ghostdet'], allow_failed_imports=False)
    init_default_scope('mmdet')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pop('init_cfg', None)  # no weights are shipped or downloaded
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    model.init_weights()
    model.eval()
    with torch.no_grad():
        channels = [f.shape[1] for f in model.backbone(torch.rand(1, 3, 64, 64))]
    if hasattr(model.backbone, 'out_channels'):  # ghostdet's backbones declare theirs
        assert list(model.backbone.out_channels) == channels
    if hasattr(model.neck, 'in_channels'):  # mmdet's SSDNeck keeps its own only in its layers
        assert list(model.neck.in_channels) == channels
    check_channels(model)  # agrees: what train, test, demo and the tools check
    # and the checks train.py, test.py and the study make before a Runner exists
    check_config_channels(cfg, str(config))
    check_config_num_classes(cfg, str(config),
                             ('train_dataloader', 'val_dataloader', 'test_dataloader'))
    assert unreached_milestone_notes(cfg) == []  # its schedule fits its training length

    num_classes = head_num_classes(model)
    packed = demo_mm_inputs(
        batch_size=2, image_shapes=[(3, 128, 160), (3, 96, 128)], num_items=[3, 2],
        num_classes=num_classes, with_mask=False)
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.backbone.parameters())

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(packed, False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    for result, shape in zip(results, [(128, 160), (96, 128)]):
        pred = result.pred_instances
        assert pred.bboxes.shape[1] == 4
        assert len(pred.bboxes) == len(pred.scores) == len(pred.labels)
        if len(pred.labels):
            assert int(pred.labels.max()) < num_classes
        assert result.ori_shape == shape


RETINANETS = [p for p in CONFIGS if p.name.startswith('retinanet_')]


@pytest.mark.parametrize('config', RETINANETS, ids=[p.name for p in RETINANETS])
def test_retinanet_focal_loss_is_float32(config: Path):
    """mmcv's CUDA focal loss in float16 goes NaN (see FP32FocalLoss): every RetinaNet config,
    each of which may be trained with --amp, computes it in float32."""
    loss_cls = Config.fromfile(config).model.bbox_head.loss_cls
    assert loss_cls.type == 'FP32FocalLoss'
    assert (loss_cls.use_sigmoid, loss_cls.gamma, loss_cls.alpha) == (True, 2.0, 0.25)
