# RetinaNet + GhostNet 1.1x + FPN, COCO 2017, 1x schedule (12 epochs, SGD, 1333x800):
# the paper's RetinaNet row (GhostNet 1.1x: 26.6 mAP).
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', '../_base_/light_backbone_coco.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='GhostNet',
        widen_factor=1.1,
        out_indices=(1, 2, 4),  # stride 8, 16, 32 (blocks.4, blocks.6, the 1x1 conv)
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        # BN keeps adapting: a light net's BN statistics matter more than a ResNet's
        norm_eval=False,
        # ImageNet weights, from a local file (nothing is downloaded); none exist for 1.1x:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ghostnet_1.1x.pth'),
    ),
    # = GhostNet(1.1, out_indices=(1, 2, 4)).out_channels (checked by tests/test_configs.py)
    neck=dict(in_channels=[44, 124, 1056], start_level=0, add_extra_convs='on_input'),
    # mmdet's focal loss, in float32 also under --amp (see FP32FocalLoss)
    bbox_head=dict(loss_cls=dict(type='FP32FocalLoss')))

# Light backbones with trainable BN see early gradient spikes under SGD: clip them.
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
