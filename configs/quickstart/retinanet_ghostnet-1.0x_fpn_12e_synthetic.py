# The quickstart: a small RetinaNet on GhostNet 1.0x that learns the embedded synthetic shapes
# dataset (made by ghostdet.datasets.make_synthetic_coco, no download) on a CPU in minutes.
#   make quickstart        (= python tools/quickstart.py)
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['ghostdet'], allow_failed_imports=False)

# --- what people change most -------------------------------------------------------------
data_root = 'data/synthetic/'
classes = ('circle', 'square', 'triangle')
image_scale = (320, 256)
max_epochs = 12
batch_size = 8
lr = 2e-3

model = dict(
    backbone=dict(
        _delete_=True,
        type='GhostNet',
        widen_factor=1.0,
        out_indices=(1, 2, 4),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),
    # = GhostNet(1.0, out_indices=(1, 2, 4)).out_channels; a narrow neck and head for the CPU
    neck=dict(in_channels=[40, 112, 960], out_channels=64, start_level=0,
              add_extra_convs='on_input', num_outs=5),
    bbox_head=dict(num_classes=len(classes), in_channels=64, feat_channels=64,
                   stacked_convs=2,
                   loss_cls=dict(type='FP32FocalLoss')),  # float32 also under --amp
    test_cfg=dict(score_thr=0.05, max_per_img=50))

train_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
# checked variants of mmdet's: errors name the image, annotation file or setting at fault
dataset = dict(type='CheckedCocoDataset', data_root=data_root, metainfo=dict(classes=classes),
               data_prefix=dict(img='images/'))
train_dataloader = dict(
    batch_size=batch_size, num_workers=0, persistent_workers=False,
    dataset=dict(dataset, ann_file='annotations/train.json', pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=4)))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(dataset, ann_file='annotations/val.json', pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(dataset, ann_file='annotations/test.json', pipeline=test_pipeline,
                 test_mode=True))
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = dict(ann_file=data_root + 'annotations/test.json')
# mmdet's RetinaNet config brings a test-time augmentation for COCO (images resized to
# 1333x800, 666x400 and 2000x1200), not this model's scale: `tools/test.py --tta` flips the
# test images at the test scale instead
tta_model = None
tta_pipeline = None

# from scratch: AdamW converges far faster than SGD without ImageNet weights
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=60),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=lr * 0.05)
]
# resumes mid-epoch without repeating iterations
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
default_hooks = dict(
    # every 20 iterations: a killed run loses at most 19 of them (`--resume` picks it up)
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=20, max_keep_ckpts=2,
                    save_last=True),
    logger=dict(type='LoggerHook', interval=10))
custom_hooks = [
    dict(type='FiniteLossHook'),  # NaN/inf loss: stop, name the iteration
    dict(type='CheckpointKeysHook'),  # load_from of another architecture: list its keys
    dict(type='NumClassesCheckHook'),  # head num_classes vs dataset classes
]
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
work_dir = 'work_dirs/quickstart'
