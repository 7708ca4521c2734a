_base_ = './faster-rcnn_ghostnet-1.0x_fpn_150e_bccd.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV3',
        arch='large',
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.01, requires_grad=True),
        norm_eval=False),
    neck=dict(in_channels=[24, 40, 112, 960]))
