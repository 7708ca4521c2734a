# Faster R-CNN + GhostNet 1.1x + GhostFPN: FPN's convolutions replaced by Ghost modules.
_base_ = './faster-rcnn_ghostnet-1.1x_fpn_1x_coco.py'

model = dict(neck=dict(type='GhostFPN', ghost_ratio=2, ghost_dw_size=3))
