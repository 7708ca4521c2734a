# RTMDet + mmdet's MobileNetV2 1.0x + Ghost-PAN + the light Ghost head: the GhostNet 1.0x
# config's twin (same neck, head and recipe).
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_300e_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.0,
        out_indices=(2, 4, 7),  # strides 8, 16, 32 (layer3, layer5, the 1280-channel conv)
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='ReLU6'),
        norm_eval=False,
        # ImageNet weights with mmdet MobileNetV2 names, from a local file (no download):
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/mobilenet_v2.pth'),
    ),
    neck=dict(in_channels=[32, 96, 1280]))
