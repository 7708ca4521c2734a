# mmdet's SSDLite-MobileNetV2 on BCCD, from scratch: the other same-budget peer of the light
# Ghost detectors in this folder (data, input sizes, augmentation, schedule, runtime and seed
# of every BCCD config; only the model differs). Its anchors are mmdet's, sized for a 320-pixel
# input (the smallest is 48 pixels): the study's CPU budget trains at 320x240.
_base_ = [
    '../../_base_/models/ssdlite_mobilenetv2.py', '../../_base_/bccd_runtime.py',
    '../../_base_/datasets/bccd.py', '../../_base_/schedules/bccd_50e.py'
]

model = dict(bbox_head=dict(num_classes=3))
