"""Confusion matrix of a detector's test predictions, each box counted once.

Rows are the ground-truth classes plus ``background`` (a detection that matches no box: a
false positive); columns are the predicted classes plus ``missed`` (a box that no detection
matched: a false negative). So row ``c`` sums to the number of class-``c`` boxes and column
``c`` to the number of class-``c`` detections above the score threshold.

Matching, per image, detections in descending score order (the COCO rule, extended across
classes):

1. each detection takes the unmatched box of its own class with the highest IoU >= ``iou_thr``
   (the diagonal is then the true positives COCO would count at that IoU and score);
2. each detection still unmatched takes the unmatched box of another class with the highest
   IoU >= ``iou_thr`` (a class confusion);
3. a detection still unmatched that overlaps an ignored (crowd) box by ``iou_thr`` is not
   counted, as in COCO; the others are ``background``. Ignored boxes are never counted.

mmdet 3.3's ``tools/analysis_tools/confusion_matrix.py`` counts a detection once per box it
overlaps, counts duplicates of a found box as correct, and counts a confused box also as missed
(open-mmlab/mmdetection#10631); its figure is sized by the class count, which leaves a 3-class
matrix unreadable. This module keeps mmdet's layout (background last) and fixes those.
"""
import json
import os.path as osp
import sys
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from mmdet.evaluation import bbox_overlaps
from mmdet.registry import DATASETS
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from ..apis.builder import ConfigLike, load_config
from ..utils.checkpoint import check_predictions, load_predictions, prediction_arrays
from .figures import save_figure

BACKGROUND = 'background'
MISSED = 'missed'


class ImageMatch(NamedTuple):
    """How one image's detections and boxes matched (:func:`match_detections`)."""
    det_bboxes: np.ndarray  # (D, 4) the detections kept (score >= score_thr), best first
    det_scores: np.ndarray  # (D,)
    det_labels: np.ndarray  # (D,)
    match: np.ndarray  # (D,) the box each detection matched, -1 for none
    on_ignored: np.ndarray  # (D,) bools: unmatched but on an ignored box (not counted)
    missed: np.ndarray  # (G,) bools: a box no detection matched (ignored boxes: False)


def match_detections(gt_bboxes: np.ndarray,
                     gt_labels: np.ndarray,
                     det_bboxes: np.ndarray,
                     det_scores: np.ndarray,
                     det_labels: np.ndarray,
                     num_classes: int,
                     iou_thr: float = 0.5,
                     score_thr: float = 0.3,
                     gt_ignore: Optional[np.ndarray] = None) -> ImageMatch:
    """Match one image's detections to its boxes (see the module's docstring for the rule).

    Args:
        gt_bboxes (np.ndarray): Ground-truth boxes, ``(G, 4)`` xyxy.
        gt_labels (np.ndarray): Their class indices, ``(G,)``.
        det_bboxes (np.ndarray): Detected boxes, ``(D, 4)`` xyxy.
        det_scores (np.ndarray): Their scores, ``(D,)``.
        det_labels (np.ndarray): Their class indices, ``(D,)``.
        num_classes (int): Number of classes.
        iou_thr (float): IoU at which a detection matches a box. Defaults to 0.5.
        score_thr (float): Detections below this score are left out. Defaults to 0.3.
        gt_ignore (np.ndarray, optional): ``(G,)`` bools, True for an ignored (crowd) box.
            Defaults to None (none ignored).

    Returns:
        ImageMatch: The detections kept, best first, and what each matched.
    """
    gt_bboxes = np.asarray(gt_bboxes, dtype=np.float32).reshape(-1, 4)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    ignored = (np.zeros(len(gt_labels), dtype=bool) if gt_ignore is None
               else np.asarray(gt_ignore, dtype=bool).reshape(-1))
    det_scores = np.asarray(det_scores, dtype=np.float32).reshape(-1)
    keep = det_scores >= score_thr
    order = np.argsort(-det_scores[keep], kind='stable')
    det_bboxes = np.asarray(det_bboxes, dtype=np.float32).reshape(-1, 4)[keep][order]
    det_labels = np.asarray(det_labels, dtype=np.int64).reshape(-1)[keep][order]
    det_scores = det_scores[keep][order]
    for name, labels in (('ground-truth', gt_labels), ('detection', det_labels)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f'a {name} label is outside 0..{num_classes - 1}: '
                             f'{sorted(set(labels.tolist()))}')

    ious = bbox_overlaps(det_bboxes, gt_bboxes)  # (D, G)
    overlaps = ious >= iou_thr
    taken = ignored.copy()  # ignored boxes are never matched
    match = np.full(len(det_labels), -1)
    for same_class in (True, False):
        for d, label in enumerate(det_labels):
            if match[d] >= 0:
                continue
            candidates = overlaps[d] & ~taken
            if same_class:
                candidates &= gt_labels == label
            if candidates.any():
                match[d] = int(np.argmax(np.where(candidates, ious[d], -1.0)))
                taken[match[d]] = True
    on_ignored = (match < 0) & (overlaps & ignored).any(axis=1)
    return ImageMatch(det_bboxes, det_scores, det_labels, match, on_ignored, ~taken)


def match_image(gt_bboxes: np.ndarray,
                gt_labels: np.ndarray,
                det_bboxes: np.ndarray,
                det_scores: np.ndarray,
                det_labels: np.ndarray,
                num_classes: int,
                iou_thr: float = 0.5,
                score_thr: float = 0.3,
                gt_ignore: Optional[np.ndarray] = None) -> np.ndarray:
    """The confusion matrix of one image: :func:`match_detections` (same arguments) counted.

    Returns:
        np.ndarray: ``(num_classes + 1, num_classes + 1)`` int64 counts.
    """
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    m = match_detections(gt_bboxes, gt_labels, det_bboxes, det_scores, det_labels, num_classes,
                         iou_thr, score_thr, gt_ignore)
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for d, label in enumerate(m.det_labels):
        if m.match[d] >= 0:
            matrix[gt_labels[m.match[d]], label] += 1
        elif not m.on_ignored[d]:
            matrix[num_classes, label] += 1
    for g in np.flatnonzero(m.missed):
        matrix[gt_labels[g], num_classes] += 1
    return matrix


def paired_with_test_set(dataset: Any, predictions: Sequence[dict]) -> List[Tuple[dict, dict]]:
    """Each prediction of a ``tools/test.py --out`` list with its image's ``get_data_info``
    (``img_path``, ``instances``); a ValueError where the list is not one prediction per image
    of ``dataset``."""
    check_predictions(predictions)
    infos = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        infos[info['img_id']] = info
    if len(predictions) != len(infos):
        raise ValueError(f'the predictions hold {len(predictions)} images, the test set '
                         f'{len(infos)}: were they written with this config?')
    pairs = []
    for prediction in predictions:
        info = infos.get(prediction.get('img_id'))
        if info is None:
            raise ValueError(f'image id {prediction.get("img_id")!r} '
                             f'({prediction.get("img_path")}) is not in the test set')
        pairs.append((prediction, info))
    return pairs


def confusion_matrix(dataset: Any,
                     predictions: Sequence[dict],
                     iou_thr: float = 0.5,
                     score_thr: float = 0.3,
                     progress: bool = True) -> np.ndarray:
    """The confusion matrix of a test set.

    Args:
        dataset: An mmdet dataset (``get_data_info`` with ``img_id`` and ``instances``).
        predictions (Sequence[dict]): What ``tools/test.py --out`` writes: one dict per image
            with ``img_id`` and ``pred_instances`` (``bboxes``, ``scores``, ``labels``).
        iou_thr (float): See :func:`match_image`. Defaults to 0.5.
        score_thr (float): See :func:`match_image`. Defaults to 0.3.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        np.ndarray: ``(C + 1, C + 1)`` counts, rows ground truth, columns predictions.
    """
    num_classes = len(dataset.metainfo['classes'])
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    bar = ProgressBar(len(predictions), file=sys.stdout) if progress else None
    for prediction, info in paired_with_test_set(dataset, predictions):
        gts = info['instances']
        bboxes, scores, labels = prediction_arrays(prediction)
        matrix += match_image(
            [g['bbox'] for g in gts], [g['bbox_label'] for g in gts], bboxes, scores, labels,
            num_classes, iou_thr, score_thr,
            gt_ignore=[bool(g.get('ignore_flag', 0)) for g in gts])
        if bar is not None:
            bar.update()
    return matrix


def test_set_confusion(config: ConfigLike,
                       predictions_file: str,
                       iou_thr: float = 0.5,
                       score_thr: float = 0.3,
                       cfg_options: Optional[dict] = None,
                       progress: bool = True) -> Tuple[np.ndarray, Tuple[str, ...]]:
    """:func:`confusion_matrix` of a config's test set and a ``tools/test.py --out`` file (read
    with :func:`ghostdet.utils.checkpoint.load_predictions`). Returns the matrix and the class
    names."""
    predictions = load_predictions(predictions_file)
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    classes = tuple(dataset.metainfo['classes'])
    return confusion_matrix(dataset, predictions, iou_thr, score_thr, progress), classes


def _ratio(num: int, den: int) -> str:
    return f'{num / den:.3f}' if den else '-'


def format_confusion_table(matrix: np.ndarray, classes: Sequence[str]) -> str:
    """Markdown: counts, each class's recall (its row) and precision (its column) at the
    matrix's thresholds."""
    n = len(classes)
    head = ['ground truth \\ prediction'] + list(classes) + [MISSED, 'recall']
    lines = ['| ' + ' | '.join(head) + ' |', '|---' + '|---:' * (len(head) - 1) + '|']
    for i, name in enumerate(list(classes) + [BACKGROUND]):
        cells = [str(v) for v in matrix[i]] if i < n else [str(v) for v in matrix[i, :n]] + ['']
        recall = _ratio(matrix[i, i], matrix[i].sum()) if i < n else ''
        lines.append('| ' + ' | '.join([name] + cells + [recall]) + ' |')
    precision = [_ratio(matrix[j, j], matrix[:, j].sum()) for j in range(n)]
    lines.append('| ' + ' | '.join(['precision'] + precision + ['', '']) + ' |')
    return '\n'.join(lines)


def plot_confusion_matrix(matrix: np.ndarray,
                          classes: Sequence[str],
                          out: str,
                          title: str = 'Confusion matrix') -> None:
    """A PNG of the matrix: each cell's count and its share of its row (the colour), so a
    class's row reads as where its boxes went."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    n = len(classes) + 1
    rows = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    share = matrix / rows
    cell, font = (0.9, 9) if n <= 12 else (0.45, 5)  # inches per cell: 3 classes as 80
    side = max(4.5, cell * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(share, cmap='Blues', vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='share of the row')
    ax.set_xticks(range(n), list(classes) + [MISSED], rotation=30, ha='right')
    ax.set_yticks(range(n), list(classes) + [BACKGROUND])
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            if i == n - 1 and j == n - 1:
                continue  # background never meets missed
            ax.text(j, i, f'{matrix[i, j]}\n{share[i, j]:.0%}', ha='center', va='center',
                    color='white' if share[i, j] > 0.5 else 'black', fontsize=font)
    save_figure(fig, out, dpi=120)


def save_confusion(matrix: np.ndarray, classes: Sequence[str], out_dir: str, iou_thr: float,
                   score_thr: float, title: str = 'Confusion matrix') -> Dict[str, str]:
    """Write ``confusion_matrix.png``, ``.json`` (counts, classes, thresholds) and ``.md`` (the
    table) to ``out_dir``; return their paths by kind."""
    paths = {kind: osp.join(out_dir, f'confusion_matrix.{kind}') for kind in ('png', 'json', 'md')}
    plot_confusion_matrix(matrix, classes, paths['png'],
                          f'{title}\n(IoU >= {iou_thr:g}, score >= {score_thr:g})')
    rows: List[str] = list(classes) + [BACKGROUND]
    with open(paths['json'], 'w', encoding='utf-8') as f:
        json.dump(dict(rows=rows, columns=list(classes) + [MISSED], counts=matrix.tolist(),
                       iou_thr=iou_thr, score_thr=score_thr), f, indent=1)
    with open(paths['md'], 'w', encoding='utf-8') as f:
        f.write(format_confusion_table(matrix, classes) + '\n')
    return paths
