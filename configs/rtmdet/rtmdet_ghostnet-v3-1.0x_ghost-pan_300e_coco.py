# The light detector (RTMDet + Ghost-PAN + the light Ghost head) with GhostNetV3 1.0x: GhostNet
# 1.0x's setting with the backbone swapped. It trains with re-parameterisable branches;
# tools/test.py, tools/demo.py, benchmark.py and pytorch2onnx.py fold them (logged) before
# inference.
_base_ = './rtmdet_ghostnet-1.0x_ghost-pan_300e_coco.py'

model = dict(
    backbone=dict(
        type='GhostNetV3',
        # timm's ghostnetv3_100 ImageNet weights (training form, the official names), from a
        # local file:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ghostnetv3_100.pth'),
    ))
