_base_ = './faster-rcnn_ghostnet-1.0x_fpn_50e_bccd.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV3',
        arch='large',
        out_indices=(0, 1, 2, 3),
        # the BN of every BCCD backbone, not torchvision's eps 1e-3 / momentum 0.01, which suit
        # its ImageNet weights: from scratch, at 13 iterations an epoch, momentum 0.01 keeps
        # 27% of the initial statistics after 10 epochs (0.99 ** 130)
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),
    neck=dict(in_channels=[24, 40, 112, 960]))
