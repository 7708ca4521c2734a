# RTMDet with GhostNet 1.0x, the Ghost-PAN neck and the light shared Ghost head: mmdet's
# RTMDet detector and rtmdet_tiny COCO recipe (300 epochs, mosaic + mixup at 640x640, AdamW
# 0.004 at batch 8x32, EMA, the pipeline switch 20 epochs before the end), only backbone, neck
# and head changed. Neck and head widths are rtmdet_tiny's (96).
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
custom_imports = dict(imports=['ghostdet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='GhostNet',
        widen_factor=1.0,
        out_indices=(1, 2, 4),  # strides 8, 16, 32: blocks.4, blocks.6, the 1x1 conv blocks.9
        norm_cfg=dict(type='BN'),
        norm_eval=False,
        # official GhostNet 1.0x weights (timm ghostnet_100 / state_dict_73.98.pth), local file:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/state_dict_73.98.pth'),
    ),
    neck=dict(
        _delete_=True,
        type='GhostPAN',
        in_channels=[40, 112, 960],  # = GhostNet(out_indices=(1, 2, 4)).out_channels
        out_channels=96,
        num_blocks=1,
        kernel_size=5,
        num_extra_level=0,
        upsample_cfg=dict(mode='nearest'),
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.1)),
    bbox_head=dict(
        type='LightSepBNHead',
        in_channels=96,
        feat_channels=96,
        stacked_convs=2,
        conv_type='ghost',  # Ghost modules: 1x1 primary conv, 5x5 depthwise cheap operation
        kernel_size=5,
        ghost_kernel_size=1,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.1)))
# BN statistics of thin layers: synced across GPUs in DDP runs (single-process runs keep BN)
sync_bn = 'torch'
# mmdet's EMA and pipeline switch, then: stop on a NaN/inf loss; refuse a load_from/--resume
# checkpoint of another architecture; stop when the head's num_classes is not the dataset's
custom_hooks = _base_.custom_hooks + [
    dict(type='FiniteLossHook'),
    dict(type='CheckpointKeysHook'),
    dict(type='NumClassesCheckHook'),
]
