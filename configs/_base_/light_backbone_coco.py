# What ghostdet's COCO configs add to mmdet's RetinaNet / Faster R-CNN bases.
custom_imports = dict(imports=['ghostdet'], allow_failed_imports=False)
# Thin layers of light backbones make poor BN statistics at 2 images/GPU: sync them in DDP runs
# (mmengine converts BN to SyncBN only when distributed; single-GPU/CPU runs keep BN).
sync_bn = 'torch'
