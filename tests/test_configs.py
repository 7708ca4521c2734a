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
