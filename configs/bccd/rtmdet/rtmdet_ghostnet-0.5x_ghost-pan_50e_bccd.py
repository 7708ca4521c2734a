_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_50e_bccd.py'

model = dict(backbone=dict(widen_factor=0.5), neck=dict(in_channels=[20, 56, 480]))
