# mmdet's RTMDet-tiny (CSPNeXt-tiny, CSPNeXtPAFPN, RTMDetSepBNHead) on BCCD, from scratch: the
# same-budget peer of the light Ghost detectors in this folder. Every config here shares the
# data, input sizes, augmentation, schedule, runtime and seed of the other BCCD configs
# (configs/_base_/: datasets/bccd.py, schedules/bccd_50e.py, bccd_runtime.py) and differs only
# in backbone, neck and head. RTMDet's COCO extras are left out: mosaic and mixup (the BCCD
# pipeline is every BCCD config's), and EMA, whose ExpMomentumEMA (momentum 0.0002) still
# weighs its starting weights heavily after the 650 iterations of 50 BCCD epochs.
#   python tools/study.py configs/bccd/rtmdet/*.py --work-root work_dirs/bccd_rtmdet \
#       --report docs/results_bccd_rtmdet.md
_base_ = [
    '../../_base_/models/rtmdet_tiny.py', '../../_base_/bccd_runtime.py',
    '../../_base_/datasets/bccd.py', '../../_base_/schedules/bccd_50e.py'
]

model = dict(
    backbone=dict(norm_cfg=dict(type='BN', requires_grad=True)),
    bbox_head=dict(num_classes=3))
