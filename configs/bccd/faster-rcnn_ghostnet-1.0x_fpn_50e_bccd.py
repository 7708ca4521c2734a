# Faster R-CNN + GhostNet 1.0x + FPN on BCCD, from scratch; same data, schedule and seed as
# the RetinaNet configs beside it.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', '../_base_/bccd_runtime.py',
    '../_base_/datasets/bccd.py', '../_base_/schedules/bccd_50e.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='GhostNet',
        widen_factor=1.0,
        out_indices=(0, 1, 2, 4),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),  # from scratch: BN statistics must be learned
    neck=dict(in_channels=[24, 40, 112, 960]),
    roi_head=dict(bbox_head=dict(num_classes=3)),
    test_cfg=dict(rcnn=dict(max_per_img=200)))  # up to ~40 RBCs per image
