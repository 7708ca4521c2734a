"""The test images a detector gets most wrong, each drawn with what went wrong where: boxes
found, missed and confused, and detections on no box, matched by the confusion matrix's rule
(:func:`~ghostdet.analysis.confusion.match_detections`), for
``tools/analysis/worst_images.py``."""
import os.path as osp
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
from mmdet.registry import DATASETS
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from ..apis.builder import ConfigLike, load_config
from ..datasets.checks import image_folder, image_name, load_image_checked
from ..utils.checkpoint import load_predictions, prediction_arrays
from .browse import overview_grid
from .confusion import match_detections, paired_with_test_set

# BGR: a box found (its class right), missed, found as another class, a detection on no box
COLORS = dict(found=(0, 170, 0), missed=(0, 0, 230), confused=(200, 0, 200),
              false=(0, 140, 255))
KINDS = ('missed', 'confused', 'false')


def image_errors(dataset: Any,
                 predictions: Sequence[dict],
                 iou_thr: float = 0.5,
                 score_thr: float = 0.3) -> List[Dict[str, Any]]:
    """What each test image's detections got right and wrong, in the test set's order.

    Per image: ``image`` (its path), ``boxes`` (its boxes, ignored ones left out), ``found``,
    ``missed``, ``confused`` (found as another class), ``false`` (detections on no box),
    ``errors`` (the last three summed), and ``drawn``: the boxes and detections to draw,
    ``(kind, xyxy, text)``.
    """
    classes = tuple(dataset.metainfo['classes'])
    records = []
    for prediction, info in paired_with_test_set(dataset, predictions):
        gts = info['instances']
        gt_bboxes = np.array([g['bbox'] for g in gts], np.float32).reshape(-1, 4)
        gt_labels = np.array([g['bbox_label'] for g in gts], np.int64)
        ignored = np.array([bool(g.get('ignore_flag', 0)) for g in gts], bool)
        m = match_detections(gt_bboxes, gt_labels, *prediction_arrays(prediction),
                             len(classes), iou_thr, score_thr, ignored)
        drawn: List[Tuple[str, np.ndarray, str]] = []
        counts = dict(found=0, missed=0, confused=0, false=0)
        for d, label in enumerate(m.det_labels):
            g = m.match[d]
            if g >= 0 and gt_labels[g] == label:
                kind, box, text = 'found', gt_bboxes[g], classes[label]
            elif g >= 0:
                kind, box = 'confused', m.det_bboxes[d]
                text = f'{classes[label]} (is {classes[gt_labels[g]]})'
            elif not m.on_ignored[d]:
                kind, box, text = 'false', m.det_bboxes[d], \
                    f'{classes[label]} {m.det_scores[d]:.2f}'
            else:
                continue
            counts[kind] += 1
            drawn.append((kind, box, text))
        for g in np.flatnonzero(m.missed):
            counts['missed'] += 1
            drawn.append(('missed', gt_bboxes[g], classes[gt_labels[g]]))
        records.append(dict(image=info['img_path'], boxes=int((~ignored).sum()), **counts,
                            errors=sum(counts[k] for k in KINDS), drawn=drawn))
    return records


def draw_errors(image: np.ndarray, drawn: Sequence[Tuple[str, np.ndarray, str]]) -> np.ndarray:
    """A copy of ``image`` (BGR) with each ``(kind, xyxy, text)`` of :func:`image_errors`
    drawn in its kind's colour (:data:`COLORS`), found boxes first so that errors lie on
    top."""
    canvas = image.copy()
    scale = max(0.35, min(canvas.shape[:2]) / 900)
    for kind, box, text in sorted(drawn, key=lambda d: d[0] != 'found'):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        color = COLORS[kind]
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y1 - h - base - 2, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + w + 4, top + h + base + 2), color, -1)
        cv2.putText(canvas, text, (x1 + 2, top + h + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def worst_images(config: ConfigLike,
                 predictions_file: str,
                 out_dir: str,
                 top: int = 12,
                 iou_thr: float = 0.5,
                 score_thr: float = 0.3,
                 cfg_options: Optional[dict] = None,
                 progress: bool = True) -> Tuple[List[Dict[str, Any]], int]:
    """Draw the ``top`` test images with the most errors (missed, confused and false, at
    ``iou_thr`` and ``score_thr``; ties: fewer boxes found first, then the test set's order)
    to ``out_dir``, named by their path under the test set's image folder, and
    ``overview.png`` with all of them. Images without an error are not drawn.

    Returns:
        tuple: The drawn images' records (:func:`image_errors`, plus ``picture``), worst
        first, and the number of test images.
    """
    if top < 1:
        raise ValueError(f'top must be at least 1, got {top}')
    predictions = load_predictions(predictions_file)
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    records = image_errors(dataset, predictions, iou_thr, score_thr)
    order = sorted(range(len(records)),
                   key=lambda i: (-records[i]['errors'], records[i]['found'], i))
    worst = [records[i] for i in order[:top] if records[i]['errors']]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = image_folder(dataset)
    bar = ProgressBar(len(worst), file=sys.stdout) if progress and worst else None
    pictures = []
    for record in worst:
        picture = out / image_name(record['image'], root)
        picture.parent.mkdir(parents=True, exist_ok=True)
        pictures.append(draw_errors(load_image_checked(record['image']), record['drawn']))
        mmcv.imwrite(pictures[-1], str(picture))
        record['picture'] = str(picture)
        if bar is not None:
            bar.update()
    if worst:
        mmcv.imwrite(overview_grid(pictures, [f'{osp.relpath(r["picture"], out)}: {summary(r)}'
                                              for r in worst]), str(out / 'overview.png'))
    return worst, len(records)


def summary(record: Dict[str, Any]) -> str:
    """``9 boxes: 2 missed, 1 confused; 3 detections on no box`` (what is none left out)."""
    boxes = ', '.join(f'{record[k]} {k}' for k in ('missed', 'confused') if record[k])
    false = f'; {record["false"]} detection{"s" * (record["false"] != 1)} on no box' \
        if record['false'] else ''
    return f'{record["boxes"]} boxes' + (f': {boxes}' if boxes else '') + false


def format_worst_table(records: Sequence[Dict[str, Any]], out_dir: str) -> str:
    """Markdown: each drawn image's boxes, found, missed, confused and false detections."""
    lines = ['| picture | boxes | found | missed | confused | false |',
             '|---|---:|---:|---:|---:|---:|']
    for r in records:
        lines.append(f'| {osp.relpath(r["picture"], out_dir)} | {r["boxes"]} | {r["found"]} | '
                     f'{r["missed"]} | {r["confused"]} | {r["false"]} |')
    return '\n'.join(lines)
