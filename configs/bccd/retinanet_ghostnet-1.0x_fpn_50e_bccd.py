# RetinaNet + GhostNet 1.0x + FPN on BCCD, from scratch. The other BCCD configs change only
# the backbone or the neck block, so every model shares schedule, input size, augmentation, seed.
#   python tools/train.py configs/bccd/retinanet_ghostnet-1.0x_fpn_50e_bccd.py --amp
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', '../_base_/bccd_runtime.py',
    '../_base_/datasets/bccd.py', '../_base_/schedules/bccd_50e.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='GhostNet',
        widen_factor=1.0,
        out_indices=(1, 2, 4),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),  # from scratch: BN statistics must be learned
    neck=dict(in_channels=[40, 112, 960], start_level=0, add_extra_convs='on_input',
              num_outs=5),
    # GN in the head: batch statistics are not shared across the 5 levels' very different maps
    # mmdet's focal loss, in float32 also under --amp (fp16 logits made it NaN: FP32FocalLoss)
    bbox_head=dict(num_classes=3, norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
                   loss_cls=dict(type='FP32FocalLoss')),
    test_cfg=dict(max_per_img=200))  # up to ~40 RBCs per image
