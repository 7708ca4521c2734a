# The light detector with GhostNetV3 1.0x on BCCD, from scratch: GhostNet 1.0x's run with the
# backbone swapped. Trained with re-parameterisable branches, which tools/test.py folds before
# testing.
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_50e_bccd.py'

model = dict(backbone=dict(type='GhostNetV3'))
