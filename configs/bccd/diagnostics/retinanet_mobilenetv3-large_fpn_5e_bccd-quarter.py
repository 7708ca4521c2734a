# Diagnostic, CPU-sized (not a result): the BCCD MobileNetV3-Large RetinaNet at a quarter of
# the pixels (320x240), batch 8, 5 epochs = 130 iterations, as many as epoch 10 of the study
# at batch 16. With its sibling `..._bn-momentum0.01...` it shows what BN momentum 0.01 does
# to an early evaluation (docs/study.md, 'BN statistics of MobileNetV3 from scratch'):
#   python tools/train.py configs/bccd/diagnostics/<this config>.py
#   python tools/analysis/bn_recalibration.py configs/bccd/diagnostics/<this config>.py \
#       work_dirs/<this config's name>/epoch_5.pth
_base_ = '../retinanet_mobilenetv3-large_fpn_50e_bccd.py'

quarter = (320, 240)
train_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=quarter, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=quarter, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
train_cfg = dict(max_epochs=5, val_interval=5)
# the study's first 5 epochs: inside its 300-iteration warm-up; its step decay (after epochs 40
# and 47) does not come, so it is left out (the learning rates are the same, iteration by
# iteration, with it or without it)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=300)
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=26),
                     checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=1,
                                     save_best=None))
