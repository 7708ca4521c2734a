import torch
from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.registry import DefaultScope

import ghostdet  # noqa: F401  (applies the fixes)
from ghostdet.apis import load_config
from ghostdet.models.compat import fix_ssd_head_predict


def test_ssd_heads_predict_with_softmax_scores():
    """mmdet 3.3.0's SSDHead raised AttributeError (no loss_cls) in every prediction; fixed,
    its scores are the softmax over classes and background, background left out."""
    fix_ssd_head_predict()  # idempotent
    cfg = load_config('mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py')
    cfg.model.bbox_head.num_classes = 3
    cfg.model.test_cfg.update(score_thr=0.0, nms=dict(type='nms', iou_threshold=1.0),
                              min_bbox_size=-1, max_per_img=10000, nms_pre=10000)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    assert model.bbox_head.loss_cls is None and not model.bbox_head.use_sigmoid_cls
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, 320, 320)], num_items=[1],
                            num_classes=3, with_mask=False)
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        (result, ) = model(**data, mode='predict')
        cls_scores, _ = model(data['inputs'], mode='tensor')
    # every anchor's softmax, background column dropped, as the boxes' scores
    expected = torch.cat([s[0].permute(1, 2, 0).reshape(-1, 4).softmax(-1)[:, :3]
                          for s in cls_scores]).flatten()
    scores = result.pred_instances.scores
    assert len(scores) == expected.numel()
    assert torch.allclose(scores.sort().values, expected.sort().values, atol=1e-6)
    assert isinstance(SSDHead.loss_cls, type(None))
