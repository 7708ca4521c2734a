# The light detector with GhostNetV2 1.0x on BCCD, from scratch: GhostNet 1.0x's run with the
# backbone swapped (same budget as every config in this folder).
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_50e_bccd.py'

model = dict(backbone=dict(type='GhostNetV2'))
