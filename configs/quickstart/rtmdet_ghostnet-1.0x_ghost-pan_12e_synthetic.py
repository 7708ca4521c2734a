# The quickstart's data, schedule and hooks with the light detector in place of the RetinaNet:
# mmdet's RTMDet with GhostNet 1.0x, the Ghost-PAN neck and the light shared Ghost head (the
# model of configs/rtmdet/rtmdet_ghostnet-1.0x_ghost-pan_300e_coco.py; assigner, losses and
# data preprocessor those of configs/_base_/models/rtmdet_tiny.py).
#   python tools/quickstart.py \
#       --config configs/quickstart/rtmdet_ghostnet-1.0x_ghost-pan_12e_synthetic.py
_base_ = './retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'

model = dict(
    _delete_=True,
    type='RTMDet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        type='GhostNet',
        widen_factor=1.0,
        out_indices=(1, 2, 4),  # strides 8, 16, 32
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),
    neck=dict(
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
        num_classes=3,
        in_channels=96,
        feat_channels=96,
        stacked_convs=2,
        conv_type='ghost',  # Ghost modules: 1x1 primary conv, 5x5 depthwise cheap operation
        kernel_size=5,
        ghost_kernel_size=1,
        anchor_generator=dict(type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        with_objectness=False,
        exp_on_reg=False,
        share_conv=True,
        pred_kernel_size=1,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.1)),
    train_cfg=dict(
        assigner=dict(type='DynamicSoftLabelAssigner', topk=13),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.65),
        max_per_img=50))
work_dir = 'work_dirs/quickstart_rtmdet'
