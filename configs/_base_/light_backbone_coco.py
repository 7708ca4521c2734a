# What ghostdet's COCO configs add to mmdet's RetinaNet / Faster R-CNN bases.
custom_imports = dict(imports=['ghostdet'], allow_failed_imports=False)
# Thin layers of light backbones make poor BN statistics at 2 images/GPU: sync them in DDP runs
# (mmengine converts BN to SyncBN only when distributed; single-GPU/CPU runs keep BN).
sync_bn = 'torch'
# Stop on a NaN/inf loss; refuse a load_from/--resume checkpoint of another architecture
# (mmengine would train what did not match from scratch; fine-tuning to other classes:
# dict(type='CheckpointKeysHook', ignore_prefixes=['bbox_head.retina_cls'])); stop when the
# head's num_classes is not the dataset's.
custom_hooks = [
    dict(type='FiniteLossHook'),
    dict(type='CheckpointKeysHook'),
    dict(type='NumClassesCheckHook'),
]
