"""A dataset's images as the model gets them, complexity (paper-convention MACs, mmengine
FlopAnalyzer) and latency of backbones and detectors, the confusion matrix of their test
predictions and the images they get most wrong, for ``tools/analysis``."""
from .backbones import (BACKBONES, PAPER_CLASSIFIERS, PAPER_DETECTION_BACKBONES,
                        ImageNetClassifier, PaperNumber, backbone_out_channels,
                        build_backbone, build_classifier)
from .browse import browse_dataset, overview_grid
from .complexity import (ComponentComplexity, PaperMacCounter, count_mmengine_flops,
                         count_paper_macs, count_params, detector_complexity,
                         format_complexity_table)
from .confusion import (ImageMatch, confusion_matrix, format_confusion_table, match_detections,
                        match_image, paired_with_test_set, plot_confusion_matrix,
                        save_confusion, test_set_confusion)
from .latency import (LatencyResult, amp_context, benchmark_module, benchmark_modules,
                      benchmark_train_step, format_latency_table, measure_interleaved,
                      measure_latency, module_runner, num_threads)
from .worst import draw_errors, format_worst_table, image_errors, worst_images

__all__ = [
    'BACKBONES', 'PAPER_CLASSIFIERS', 'PAPER_DETECTION_BACKBONES', 'ImageNetClassifier',
    'PaperNumber', 'backbone_out_channels', 'build_backbone', 'build_classifier',
    'browse_dataset', 'overview_grid', 'ComponentComplexity', 'PaperMacCounter',
    'count_mmengine_flops', 'count_paper_macs', 'count_params', 'detector_complexity',
    'format_complexity_table', 'ImageMatch', 'confusion_matrix', 'format_confusion_table',
    'match_detections', 'match_image', 'paired_with_test_set', 'plot_confusion_matrix',
    'save_confusion', 'test_set_confusion', 'LatencyResult', 'amp_context', 'benchmark_module',
    'benchmark_modules', 'benchmark_train_step', 'format_latency_table', 'measure_interleaved',
    'measure_latency', 'module_runner', 'num_threads', 'draw_errors', 'format_worst_table',
    'image_errors', 'worst_images'
]
