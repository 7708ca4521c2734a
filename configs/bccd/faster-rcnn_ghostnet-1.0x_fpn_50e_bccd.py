# Faster R-CNN + GhostNet 1.0x + FPN on BCCD, from scratch; same data, schedule and seed as
# the RetinaNet configs beside it.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', 'mmdet::_base_/default_runtime.py',
    '../_base_/datasets/bccd.py', '../_base_/schedules/bccd_50e.py'
]
custom_imports = dict(imports=['ghostdet'], allow_failed_imports=False)

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

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2, save_best='auto'),
    logger=dict(type='LoggerHook', interval=5))
custom_hooks = [
    dict(type='FiniteLossHook'),
    dict(type='CheckpointKeysHook'),
    dict(type='NumClassesCheckHook'),
]
randomness = dict(seed=0)
