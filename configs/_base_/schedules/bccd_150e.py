# From scratch (no ImageNet weights offline): 150 epochs, SGD lr 0.02 at batch 16, linear
# warm-up, steps at 120 and 140 -- the recipe that took mmdet's RetinaNet-R18 to 0.534 test mAP.
max_epochs = 150
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=300),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[120, 140],
         gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
