# The GhostNet 1.0x light detector's twin: MobileNetV3-Large, same neck, head and budget.
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_50e_bccd.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV3',
        arch='large',
        out_indices=(1, 2, 3),
        # the BN of every BCCD backbone, not torchvision's eps 1e-3 / momentum 0.01 (for its
        # ImageNet weights; from scratch it keeps the initial statistics too long)
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),
    neck=dict(in_channels=[40, 112, 960]))
