"""Detection-by-detection comparison of two prediction files of the same images, e.g. a
checkpoint's and its ONNX export's, int8 file's or BatchNorm-folded model's: does the deployed
model detect what the checkpoint detects, box for box?

A detection of one file and one of the other are *twins* when they are on the same image, of
the same class, their scores differ by at most ``score_tol`` and each of their box coordinates
by at most ``box_tol`` pixels. Per image and class the twins are a maximum matching (scipy's
``linear_sum_assignment``; among maximum matchings, the nearest), so that of two near-equal
detections neither takes the other's only twin.

A detection left without a twin is *at the cut* when its score is within ``score_tol`` of the
lowest score the other file kept on that image, or of ``score_thr``: the other model may have
dropped it at its ``max_per_img`` or at the score threshold, where a tie in the scores
decides, so it is counted apart from the real differences. (For ties at the models' own score
threshold to count as such, pass it as ``score_thr``: :func:`config_score_thr` reads it from
their config.)
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..utils.checkpoint import check_predictions, prediction_arrays
from ..utils.text import preview

# a cost no twin reaches (twins cost at most 2: see pair_detections)
_NO_TWIN = 1e6


@dataclass
class Detection:
    """One detection of a prediction file."""
    img_id: Any
    label: int
    score: float
    bbox: Tuple[float, float, float, float]

    def __str__(self) -> str:
        box = ', '.join(f'{v:.2f}' for v in self.bbox)
        return f'image {self.img_id}: label {self.label}, score {self.score:.6f}, box [{box}]'


@dataclass
class PredictionDiff:
    """What :func:`compare_predictions` found. Per-file pairs are (first file, second file)."""
    images: int
    detections: Tuple[int, int]
    twins: int
    max_score_diff: float  # over the twins; 0 without twins
    max_box_diff: float  # pixels, over the twins' coordinates; 0 without twins
    unpaired: Tuple[List[Detection], List[Detection]] = field(default_factory=lambda: ([], []))
    at_cut: Tuple[List[Detection], List[Detection]] = field(default_factory=lambda: ([], []))

    @property
    def same(self) -> bool:
        """Every detection has a twin or is at the cut."""
        return not (self.unpaired[0] or self.unpaired[1])


def pair_detections(a_bboxes: np.ndarray, a_scores: np.ndarray, b_bboxes: np.ndarray,
                    b_scores: np.ndarray, score_tol: float,
                    box_tol: float) -> List[Tuple[int, int]]:
    """The twins among two sets of detections of one class on one image.

    Args:
        a_bboxes (np.ndarray): ``(A, 4)`` boxes of the first file.
        a_scores (np.ndarray): ``(A,)`` their scores.
        b_bboxes (np.ndarray): ``(B, 4)`` boxes of the second file.
        b_scores (np.ndarray): ``(B,)`` their scores.
        score_tol (float): Largest score difference of twins.
        box_tol (float): Largest coordinate difference of twins, in pixels.

    Returns:
        list[tuple[int, int]]: ``(i, j)`` index pairs, as many as any matching can hold.
    """
    if not len(a_scores) or not len(b_scores):
        return []
    score_diff = np.abs(a_scores[:, None] - b_scores[None, :])
    box_diff = np.abs(a_bboxes[:, None, :] - b_bboxes[None, :, :]).max(axis=-1)
    # each within its tolerance; the cost of a twin is its two differences as shares of them
    close = (score_diff <= score_tol) & (box_diff <= box_tol)
    cost = np.where(close, score_diff / max(score_tol, 1e-12) + box_diff / max(box_tol, 1e-12),
                    _NO_TWIN)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if close[i, j]]


def _by_image(predictions: Any, name: str) -> Dict[Any, Any]:
    """``img_id`` -> the image's prediction dict, refusing what is not a ``tools/test.py
    --out`` list or names an image twice."""
    images = {}
    for prediction in check_predictions(predictions, name):
        if prediction['img_id'] in images:
            raise ValueError(f'{name} holds image {prediction["img_id"]!r} twice')
        images[prediction['img_id']] = prediction
    return images


def config_score_thr(cfg: Any) -> float:
    """The score below which a config's detector drops detections at test time: its
    ``model.test_cfg.score_thr``, or ``model.test_cfg.rcnn.score_thr`` for a two-stage one.

    Args:
        cfg (Config or dict): A loaded config (e.g. by
            :func:`ghostdet.apis.load_config`).

    Raises:
        ValueError: The config's model has no such threshold.
    """
    test_cfg = (cfg.get('model') or {}).get('test_cfg') or {}
    for where, section in (('model.test_cfg', test_cfg), ('model.test_cfg.rcnn',
                                                          test_cfg.get('rcnn') or {})):
        if section.get('score_thr') is not None:
            thr = float(section['score_thr'])
            if not 0 <= thr <= 1:
                raise ValueError(f'{where}.score_thr must be in [0, 1], but got {thr}')
            return thr
    raise ValueError('the config has no model.test_cfg.score_thr (nor model.test_cfg.rcnn.'
                     'score_thr): give the threshold as --score-thr')


def _at_cut(score: float, other_scores: np.ndarray, score_thr: float, score_tol: float) -> bool:
    """Whether a detection without a twin ties with where the other file cut its detections of
    the image: its lowest kept score (``max_per_img``) or the score threshold."""
    if len(other_scores) and abs(score - float(other_scores.min())) <= score_tol:
        return True
    return score <= score_thr + score_tol


def compare_predictions(first: Sequence[dict],
                        second: Sequence[dict],
                        score_tol: float = 1e-4,
                        box_tol: float = 0.01,
                        score_thr: float = 0.0,
                        names: Tuple[str, str] = ('the first file', 'the second file')
                        ) -> PredictionDiff:
    """Pair the detections of two ``tools/test.py --out`` lists of the same images (in any
    order), per image and class (the rule is in the module's docstring).

    Args:
        first (Sequence[dict]): One dict per image with ``img_id`` and ``pred_instances``
            (``bboxes``, ``scores``, ``labels``: tensors or arrays).
        second (Sequence[dict]): The same images' predictions by the other model.
        score_tol (float): Largest score difference of twins. Defaults to 1e-4.
        box_tol (float): Largest box-coordinate difference of twins, in pixels. Defaults to
            0.01.
        score_thr (float): Leave out detections scoring below this in both files. Defaults
            to 0 (keep all).
        names (tuple[str, str]): The two files' names for error messages.

    Returns:
        PredictionDiff: the counts, the twins' largest differences and the detections without
        a twin.
    """
    if score_tol < 0 or box_tol < 0:
        raise ValueError(f'the tolerances must be >= 0, but got score {score_tol}, box {box_tol}')
    images = [_by_image(first, names[0]), _by_image(second, names[1])]
    only = [[i for i in images[k] if i not in images[1 - k]] for k in (0, 1)]
    if only[0] or only[1]:
        raise ValueError(f'the files hold different images: {len(only[0])} only in {names[0]} '
                         f'({preview(only[0], 4)}), {len(only[1])} only in {names[1]} '
                         f'({preview(only[1], 4)}): were they written on the same test set?')
    diff = PredictionDiff(images=len(images[0]), detections=(0, 0), twins=0, max_score_diff=0.0,
                          max_box_diff=0.0)
    counts = [0, 0]
    for img_id, prediction in images[0].items():
        sides = []
        for k, pred in enumerate((prediction, images[1][img_id])):
            bboxes, scores, labels = prediction_arrays(pred, names[k])
            keep = scores >= score_thr
            sides.append((bboxes[keep], scores[keep], labels[keep]))
            counts[k] += int(keep.sum())
        paired = [np.zeros(len(side[1]), dtype=bool) for side in sides]
        for label in np.union1d(sides[0][2], sides[1][2]):
            index = [np.flatnonzero(side[2] == label) for side in sides]
            (a_boxes, a_scores), (b_boxes, b_scores) = (
                (side[0][i], side[1][i]) for side, i in zip(sides, index))
            for i, j in pair_detections(a_boxes, a_scores, b_boxes, b_scores, score_tol,
                                        box_tol):
                paired[0][index[0][i]] = paired[1][index[1][j]] = True
                diff.twins += 1
                diff.max_score_diff = max(diff.max_score_diff,
                                          float(abs(a_scores[i] - b_scores[j])))
                diff.max_box_diff = max(diff.max_box_diff,
                                        float(np.abs(a_boxes[i] - b_boxes[j]).max()))
        for k, (bboxes, scores, labels) in enumerate(sides):
            for i in np.flatnonzero(~paired[k]):
                detection = Detection(img_id, int(labels[i]), float(scores[i]),
                                      tuple(float(v) for v in bboxes[i]))
                at_cut = _at_cut(detection.score, sides[1 - k][1], score_thr, score_tol)
                (diff.at_cut if at_cut else diff.unpaired)[k].append(detection)
    diff.detections = (counts[0], counts[1])
    return diff


def format_prediction_diff(diff: PredictionDiff, names: Tuple[str, str], score_tol: float,
                           box_tol: float, most: int = 10) -> str:
    """The summary :func:`compare_predictions` found, with up to ``most`` detections without a
    twin (and not at the cut) of each file."""
    lines = [
        f'images: {diff.images}',
        f'detections: {diff.detections[0]} in {names[0]}, {diff.detections[1]} in {names[1]}',
        f'twins (same image and class, score within {score_tol:g}, box within {box_tol:g} px): '
        f'{diff.twins}; largest differences: score {diff.max_score_diff:.2g}, '
        f'box {diff.max_box_diff:.2g} px',
        f'at the cut (a tie, within {score_tol:g}, with the other file\'s lowest kept score on '
        f'the image or with the score threshold): {len(diff.at_cut[0])} in {names[0]}, '
        f'{len(diff.at_cut[1])} in {names[1]}',
        f'without a twin: {len(diff.unpaired[0])} in {names[0]}, {len(diff.unpaired[1])} in '
        f'{names[1]}']
    for name, unpaired in zip(names, diff.unpaired):
        if unpaired:
            lines.append(f'{name}, without a twin (highest scores first):')
            ranked = sorted(unpaired, key=lambda d: -d.score)
            lines += [f'  {d}' for d in ranked[:most]]
            if len(ranked) > most:
                lines.append(f'  ... ({len(ranked) - most} more)')
    lines.append('the same detections' if diff.same else 'different detections')
    return '\n'.join(lines)
