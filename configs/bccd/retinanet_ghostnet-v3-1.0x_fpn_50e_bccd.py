# RetinaNet + GhostNetV3 1.0x + FPN on BCCD, from scratch: GhostNet 1.0x's run with the backbone
# swapped. Trained with re-parameterisable branches, which tools/test.py folds before testing.
_base_ = './retinanet_ghostnet-1.0x_fpn_50e_bccd.py'

model = dict(backbone=dict(type='GhostNetV3'))
