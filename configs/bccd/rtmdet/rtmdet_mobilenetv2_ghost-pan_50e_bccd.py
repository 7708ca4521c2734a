# The GhostNet 1.0x light detector's twin: mmdet's MobileNetV2, same neck, head and budget.
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_50e_bccd.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        out_indices=(2, 4, 7),
        norm_cfg=dict(type='BN', requires_grad=True),
        act_cfg=dict(type='ReLU6'),
        norm_eval=False),
    neck=dict(in_channels=[32, 96, 1280]))
