# RetinaNet + MobileNetV3-Large 1.0x + FPN, COCO 2017, 1x: the paper's baseline (26.4 mAP).
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', '../_base_/light_backbone_coco.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV3',
        arch='large',
        widen_factor=1.0,
        out_indices=(1, 2, 3),  # stride 8, 16, 32 (features.6, .12, .16)
        frozen_stages=-1,
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.01, requires_grad=True),
        # BN keeps adapting: a light net's BN statistics matter more than a ResNet's
        norm_eval=False,
        # torchvision ImageNet weights, converted by
        # tools/model_converters/torchvision_mobilenetv3.py:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/mobilenetv3-large_ghostdet.pth'),
    ),
    # = MobileNetV3('large', out_indices=(1, 2, 3)).out_channels
    neck=dict(in_channels=[40, 112, 960], start_level=0, add_extra_convs='on_input'),
    # mmdet's focal loss, in float32 also under --amp (see FP32FocalLoss)
    bbox_head=dict(loss_cls=dict(type='FP32FocalLoss')))

# Light backbones with trainable BN see early gradient spikes under SGD: clip them.
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
