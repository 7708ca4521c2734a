"""Comparing models: the same-budget study of several configs (train, test, measure, report:
``tools/study.py``), the backbone and detector cost tables (``compare_backbones.py``), the
torchvision peer (``peer_benchmark.py``), the detection-by-detection comparison of two models'
predictions (``compare_predictions.py``) and training logs (``analyze_logs.py``). A tool for
comparing models on top of the library, not part of its core."""
from .study import STAGES, Study, StudyRun
from .twins import (Detection, PredictionDiff, compare_predictions, config_score_thr,
                    format_prediction_diff, pair_detections)

__all__ = [
    'STAGES', 'Study', 'StudyRun', 'Detection', 'PredictionDiff', 'compare_predictions',
    'config_score_thr', 'format_prediction_diff', 'pair_detections'
]
