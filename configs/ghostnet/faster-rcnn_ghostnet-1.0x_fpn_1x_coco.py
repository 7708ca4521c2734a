# Faster R-CNN + GhostNet 1.0x + FPN: the width with official ImageNet weights.
_base_ = './faster-rcnn_ghostnet-1.1x_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        widen_factor=1.0,
        # official GhostNet 1.0x weights (timm ghostnet_100 / state_dict_73.98.pth), local file:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/state_dict_73.98.pth'),
    ),
    neck=dict(in_channels=[24, 40, 112, 960]))
