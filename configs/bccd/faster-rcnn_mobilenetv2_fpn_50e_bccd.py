_base_ = './faster-rcnn_ghostnet-1.0x_fpn_50e_bccd.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        out_indices=(1, 2, 4, 7),
        norm_cfg=dict(type='BN', requires_grad=True),
        act_cfg=dict(type='ReLU6'),
        norm_eval=False),
    neck=dict(in_channels=[24, 32, 96, 1280]))
