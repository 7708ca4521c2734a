import pytest
import torch
from ghostdet.analysis import (DetectorNetwork, build_detector, load_config, replace_backbone,
                               synthetic_batch)
from ghostdet.utils.config import resolve_config_path
from ghostdet.models import GhostNet
from tests.helpers import REPO

RETINANET = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'


def test_load_config_copies_and_merges_options():
    cfg = load_config(RETINANET, {'model.neck.num_outs': 4})
    assert cfg.model.neck.num_outs == 4
    again = load_config(cfg, {'model.neck.num_outs': 3})
    assert again.model.neck.num_outs == 3 and cfg.model.neck.num_outs == 4


def test_load_config_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'^config file not found: {tmp_path}/a.py$'):
        load_config(tmp_path / 'a.py')
    path = resolve_config_path('mmdet::retinanet/nope.py')
    with pytest.raises(FileNotFoundError) as error:  # the looked-up file is named too
        load_config('mmdet::retinanet/nope.py')
    assert str(error.value) == f'config file not found: mmdet::retinanet/nope.py ({path})'


def test_replace_backbone_sets_neck_in_channels():
    cfg = replace_backbone(
        RETINANET, dict(type='GhostNet', widen_factor=1.3, out_indices=(1, 2, 4)),
        neck_type='GhostFPN')
    assert dict(cfg.model.backbone) == dict(type='GhostNet', widen_factor=1.3,
                                            out_indices=(1, 2, 4))
    assert cfg.model.neck.in_channels == list(GhostNet(1.3, out_indices=(1, 2, 4)).out_channels)
    assert cfg.model.neck.type == 'GhostFPN'
    # same type: the given keys override, the others stay
    cfg2 = replace_backbone(cfg, dict(widen_factor=0.5))
    assert cfg2.model.backbone.widen_factor == 0.5
    assert tuple(cfg2.model.backbone.out_indices) == (1, 2, 4)
    assert cfg2.model.neck.in_channels == list(GhostNet(0.5, out_indices=(1, 2, 4)).out_channels)
    assert cfg.model.backbone.widen_factor == 1.3


def test_replace_backbone_under_another_default_scope():
    # a Runner earlier in the process may leave another scope current (as tests/test_apis does)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmengine'):
        cfg = replace_backbone(RETINANET, dict(type='GhostNet', out_indices=(2, 3, 4)))
    assert cfg.model.neck.in_channels == list(GhostNet(out_indices=(2, 3, 4)).out_channels)


def test_build_our_config_and_synthetic_batch():
    model = build_detector(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py')
    assert type(model).__name__ == 'RetinaNet' and not model.training
    inputs, samples = synthetic_batch(model, (50, 70), batch_size=2)
    assert inputs.shape == (2, 3, 64, 96)
    assert samples[0].img_shape == (50, 70) and samples[1].batch_input_shape == (64, 96)
    with torch.no_grad():
        results = model.predict(inputs, samples)
    assert len(results) == 2
    assert synthetic_batch(model, (50, 70), pad=False)[0].shape == (1, 3, 50, 70)
    with pytest.raises(ValueError):
        synthetic_batch(model, (50, 70), batch_size=0)


def test_detector_network_runs_roi_head_on_fixed_rois():
    model = build_detector('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    network = DetectorNetwork(model, num_proposals=7)
    img = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        outs = network(img)
    # RPN: 5 levels x (scores, deltas), then the RoI head's scores and deltas for 2 x 7 RoIs
    assert len(outs) == 12
    assert outs[-2].shape == (14, 81) and outs[-1].shape == (14, 320)
    rois = network.rois(img)
    assert rois.shape == (14, 5) and rois[:7, 0].eq(0).all() and rois[7:, 0].eq(1).all()
    assert torch.equal(rois[:7, 1:], rois[7:, 1:]) and network.rois(img) is rois
    with pytest.raises(ValueError):
        DetectorNetwork(model, num_proposals=0)


def test_detector_network_one_stage():
    model = build_detector(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py')
    with torch.no_grad():
        outs = DetectorNetwork(model)(torch.rand(1, 3, 64, 64))
    assert len(outs) == 10  # 5 levels x (cls_score, bbox_pred), no RoI head
    assert outs[0].shape[1] == 9 * 80
