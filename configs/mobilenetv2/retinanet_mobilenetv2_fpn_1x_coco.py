# RetinaNet + mmdet's MobileNetV2 1.0x + FPN, COCO 2017, 1x: the paper's baseline (26.7 mAP).
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', '../_base_/light_backbone_coco.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.0,
        out_indices=(2, 4, 7),  # stride 8, 16, 32 (layer3, layer5, the 1280-channel conv)
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        act_cfg=dict(type='ReLU6'),
        # BN keeps adapting: a light net's BN statistics matter more than a ResNet's
        norm_eval=False,
        # ImageNet weights with mmdet MobileNetV2 names, from a local file (no download):
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/mobilenet_v2.pth'),
    ),
    neck=dict(in_channels=[32, 96, 1280], start_level=0, add_extra_convs='on_input'),
    # mmdet's focal loss, in float32 also under --amp (see FP32FocalLoss)
    bbox_head=dict(loss_cls=dict(type='FP32FocalLoss')))

# Light backbones with trainable BN see early gradient spikes under SGD: clip them.
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
