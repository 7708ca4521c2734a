"""Fixes for mmdet 3.3.0 bugs that break detectors ghostdet's backbones plug into; ``import
ghostdet`` applies them once."""
from mmdet.models.dense_heads import SSDHead


def fix_ssd_head_predict() -> None:
    """mmdet 3.3.0's ``SSDHead`` skips ``AnchorHead.__init__`` and so never gets ``loss_cls``,
    which ``BaseDenseHead._predict_by_feat_single`` reads (for v3det's custom classifiers):
    every SSD and SSDLite prediction (validation, ``test.py``, the demo) raised
    ``AttributeError: 'SSDHead' object has no attribute 'loss_cls'`` (upstream issues 11305
    and 11780, open). ``loss_cls = None`` on the class sends it down the softmax branch SSD
    took before; a version whose heads set their own is left as it is. Idempotent."""
    if not hasattr(SSDHead, 'loss_cls'):
        SSDHead.loss_cls = None
