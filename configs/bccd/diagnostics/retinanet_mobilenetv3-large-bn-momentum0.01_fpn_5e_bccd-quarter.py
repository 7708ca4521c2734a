# The diagnostic of `retinanet_mobilenetv3-large_fpn_5e_bccd-quarter.py` with torchvision's
# BN settings for MobileNetV3 (eps 1e-3, momentum 0.01) instead of the BCCD configs' shared BN.
_base_ = './retinanet_mobilenetv3-large_fpn_5e_bccd-quarter.py'

model = dict(backbone=dict(norm_cfg=dict(type='BN', eps=0.001, momentum=0.01,
                                         requires_grad=True)))
