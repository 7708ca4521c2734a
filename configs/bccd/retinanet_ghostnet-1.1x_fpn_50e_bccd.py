_base_ = './retinanet_ghostnet-1.0x_fpn_50e_bccd.py'

model = dict(backbone=dict(widen_factor=1.1), neck=dict(in_channels=[44, 124, 1056]))
