# RTMDet + GhostNet 0.5x + Ghost-PAN + the light Ghost head (see the 1.0x config).
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_300e_coco.py'

model = dict(
    backbone=dict(widen_factor=0.5),
    neck=dict(in_channels=[20, 56, 480]))  # = GhostNet(0.5, out_indices=(1, 2, 4)).out_channels
