# RetinaNet + GhostNet 1.0x + GhostFPN.
_base_ = './retinanet_ghostnet-1.0x_fpn_1x_coco.py'

model = dict(neck=dict(type='GhostFPN', ghost_ratio=2, ghost_dw_size=3))
