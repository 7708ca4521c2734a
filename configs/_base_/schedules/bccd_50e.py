# From scratch (no ImageNet weights offline): 50 epochs (650 iterations), SGD lr 0.02 at batch
# 16, linear warm-up over 300 iterations, steps at 40 and 47. Why 50: on the H200 (with --amp)
# the GhostNet 1.0x RetinaNet reached val bbox mAP 0.524 by epoch 50 at full lr on the
# 150-epoch recipe this replaces (mmdet's RetinaNet-R18 one, 0.534 test mAP), and 8 runs of
# 150 epochs need about an hour of GPU time, more than a 30-minute device session.
max_epochs = 50
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=300),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[40, 47],
         gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
