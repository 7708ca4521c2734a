"""Data for ghostdet: the embedded shapes dataset, VOC -> COCO conversion, and checks that
name the file or setting at fault (``import ghostdet`` registers the checked transform, dataset
and hook into mmdet's registries)."""
from .checks import (AnnotationFileError, CheckedCocoDataset, LoadImageFromFileChecked,
                     NumClassesCheckHook, NumClassesMismatchError, UnreadableImageError,
                     UnreadableImageWarning, check_classes_match, check_config_num_classes,
                     check_data_files, check_num_classes, find_truncation, head_num_classes,
                     load_image_checked, read_coco_json)
from .synthetic import SYNTHETIC_CLASSES, make_synthetic_coco, render_image
from .voc2coco import (BoxIssue, SplitReport, UnknownClassError, convert_voc_to_coco,
                       read_class_names, voc_to_coco)

__all__ = [
    'AnnotationFileError', 'BoxIssue', 'CheckedCocoDataset', 'LoadImageFromFileChecked',
    'NumClassesCheckHook', 'NumClassesMismatchError', 'SYNTHETIC_CLASSES', 'SplitReport',
    'UnknownClassError', 'UnreadableImageError', 'UnreadableImageWarning',
    'check_classes_match', 'check_config_num_classes', 'check_data_files', 'check_num_classes',
    'convert_voc_to_coco',
    'find_truncation', 'head_num_classes', 'load_image_checked', 'make_synthetic_coco',
    'read_class_names', 'read_coco_json', 'render_image', 'voc_to_coco'
]
