_base_ = './retinanet_ghostnet-1.0x_fpn_50e_bccd.py'

model = dict(neck=dict(type='GhostFPN', ghost_ratio=2, ghost_dw_size=3))
