# RetinaNet + GhostNetV2 1.0x (DFC attention) + FPN, COCO 2017, 1x: GhostNet 1.0x's setting with
# the backbone swapped (same widths and taps, so the neck is unchanged).
_base_ = './retinanet_ghostnet-1.0x_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='GhostNetV2',
        # timm's ghostnetv2_100 ImageNet weights (the official names), from a local file:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ghostnetv2_100.pth'),
    ))
