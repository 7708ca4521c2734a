# RetinaNet + GhostNetV2 1.0x (DFC attention) + FPN on BCCD, from scratch: GhostNet 1.0x's run
# with the backbone swapped.
_base_ = './retinanet_ghostnet-1.0x_fpn_50e_bccd.py'

model = dict(backbone=dict(type='GhostNetV2'))
