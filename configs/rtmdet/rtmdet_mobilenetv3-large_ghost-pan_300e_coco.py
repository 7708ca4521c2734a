# RTMDet + MobileNetV3-Large + Ghost-PAN + the light Ghost head: the GhostNet 1.0x config's
# twin (same neck, head and recipe), the paper's same-detector comparison.
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_300e_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV3',
        arch='large',
        widen_factor=1.0,
        out_indices=(1, 2, 3),  # strides 8, 16, 32 (features.6, .12, .16)
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.01),
        norm_eval=False,
        # torchvision ImageNet weights, converted by
        # tools/model_converters/torchvision_mobilenetv3.py:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/mobilenetv3-large_ghostdet.pth'),
    ),
    neck=dict(in_channels=[40, 112, 960]))  # = MobileNetV3('large', (1, 2, 3)).out_channels
