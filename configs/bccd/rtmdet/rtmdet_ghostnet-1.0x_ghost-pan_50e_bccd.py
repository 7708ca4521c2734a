# RTMDet + GhostNet 1.0x + Ghost-PAN + the light Ghost head on BCCD, from scratch (the model of
# configs/rtmdet/rtmdet_ghostnet-1.0x_ghost-pan_300e_coco.py; budget: rtmdet_tiny_50e_bccd.py).
_base_ = './rtmdet_tiny_50e_bccd.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='GhostNet',
        widen_factor=1.0,
        out_indices=(1, 2, 4),  # strides 8, 16, 32: blocks.4, blocks.6, the 1x1 conv blocks.9
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),  # from scratch: BN statistics must be learned
    neck=dict(
        _delete_=True,
        type='GhostPAN',
        in_channels=[40, 112, 960],
        out_channels=96,
        num_blocks=1,
        kernel_size=5,
        num_extra_level=0,
        upsample_cfg=dict(mode='nearest'),
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.1)),
    bbox_head=dict(
        type='LightSepBNHead',
        conv_type='ghost',  # Ghost modules: 1x1 primary conv, 5x5 depthwise cheap operation
        kernel_size=5,
        ghost_kernel_size=1,
        act_cfg=dict(type='LeakyReLU', negative_slope=0.1)))
