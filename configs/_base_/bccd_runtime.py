# Runtime of every BCCD config: mmdet's default runtime with the hooks, logging and seed that
# the same-budget study shares.
_base_ = 'mmdet::_base_/default_runtime.py'
custom_imports = dict(imports=['ghostdet'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2, save_best='auto'),
    # a line every 5 iterations, and (ignore_last=False) one at each 13-iteration epoch's end
    logger=dict(type='LoggerHook', interval=5, ignore_last=False))
# `loss` is the mean over the epoch so far, so each epoch's last line holds the epoch's mean
# loss, which the study's learning curves plot; mmdet's window of 50 iterations spans ~4 epochs
log_processor = dict(custom_cfg=[dict(data_src='loss', method_name='mean', window_size='epoch')])
custom_hooks = [
    dict(type='FiniteLossHook'),
    dict(type='CheckpointKeysHook'),
    dict(type='NumClassesCheckHook'),
]
randomness = dict(seed=0)
