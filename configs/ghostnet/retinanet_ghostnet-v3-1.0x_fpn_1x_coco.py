# RetinaNet + GhostNetV3 1.0x + FPN, COCO 2017, 1x: GhostNet 1.0x's setting with the backbone
# swapped. It trains with re-parameterisable branches; tools/test.py, tools/demo.py,
# benchmark.py and pytorch2onnx.py fold them into single convolutions (logged) before inference.
_base_ = './retinanet_ghostnet-1.0x_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='GhostNetV3',
        # timm's ghostnetv3_100 ImageNet weights (training form, the official names), from a
        # local file:
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/ghostnetv3_100.pth'),
    ))
