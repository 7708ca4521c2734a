# The light detector (RTMDet + Ghost-PAN + the light Ghost head) with GhostNetV2 1.0x: GhostNet
# 1.0x's setting with the backbone swapped (same taps and widths; DFC attention added).
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_300e_coco.py'

model = dict(
    backbone=dict(
        type='GhostNetV2',
        # timm's ghostnetv2_100 ImageNet weights (the official names), from a local file:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ghostnetv2_100.pth'),
    ))
