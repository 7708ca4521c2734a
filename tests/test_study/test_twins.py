import numpy as np
import pytest
import torch

from ghostdet.apis import load_config
from ghostdet.study import (compare_predictions, config_score_thr, format_prediction_diff,
                            pair_detections)
from tests.helpers import REPO


def image(img_id, boxes, scores, labels, tensors=True):
    """One image of a ``tools/test.py --out`` list."""
    convert = torch.tensor if tensors else np.asarray
    return dict(img_id=img_id, img_path=f'{img_id}.jpg', pred_instances=dict(
        bboxes=convert(np.asarray(boxes, dtype=np.float32).reshape(-1, 4)),
        scores=convert(np.asarray(scores, dtype=np.float32)),
        labels=convert(np.asarray(labels, dtype=np.int64))))


def random_predictions(seed, images=5, per_image=30, classes=3):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(images):
        xy = rng.uniform(0, 300, (per_image, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (per_image, 2))], axis=1)
        out.append(image(i, boxes, rng.uniform(0.05, 1, per_image),
                         rng.integers(0, classes, per_image)))
    return out


def perturbed(predictions, seed, score=5e-5, box=5e-3, shuffle=True):
    """The same detections moved by up to ``score`` and ``box`` px, in another order."""
    rng = np.random.default_rng(seed)
    out = []
    for p in predictions:
        inst = p['pred_instances']
        n = len(inst['scores'])
        order = rng.permutation(n) if shuffle else np.arange(n)
        boxes = inst['bboxes'].numpy() + rng.uniform(-box, box, (n, 4))
        scores = inst['scores'].numpy() + rng.uniform(-score, score, n)
        out.append(image(p['img_id'], boxes[order], scores[order], inst['labels'].numpy()[order],
                         tensors=False))
    return out[::-1]  # the images in another order too


def test_a_near_tie_is_paired_as_a_maximum_matching():
    """a0 is near both b0 and b1, a1 only near b0: pairing each detection with its nearest
    (a0-b0) would leave a1 and b1 alone; the maximum matching pairs a0-b1 and a1-b0."""
    a = np.array([[0, 0, 10, 10.0], [0, 0, 10, 10.012]])
    b = np.array([[0, 0, 10, 10.006], [0, 0, 10, 9.992]])
    scores = np.array([0.5, 0.5])
    assert sorted(pair_detections(a, scores, b, scores, 1e-4, 0.01)) == [(0, 1), (1, 0)]
    # among maximum matchings the nearest: both pairings are complete here, the nearer wins
    b_far = np.array([[0, 0, 10, 10.008], [0, 0, 10, 10.001]])
    assert sorted(pair_detections(a, scores, b_far, scores, 1e-4, 0.02)) == [(0, 1), (1, 0)]


def test_tolerances_decide_twins():
    a = np.array([[0, 0, 10, 10.0]])
    assert pair_detections(a, np.array([0.5]), a + 0.009, np.array([0.50009]), 1e-4,
                           0.01) == [(0, 0)]
    assert pair_detections(a, np.array([0.5]), a + 0.011, np.array([0.5]), 1e-4, 0.01) == []
    assert pair_detections(a, np.array([0.5]), a, np.array([0.5002]), 1e-4, 0.01) == []
    assert pair_detections(a, np.array([0.5]), a, np.array([0.5]), 0, 0) == [(0, 0)]
    assert pair_detections(a, np.array([0.5]), a[:0], np.array([]), 1e-4, 0.01) == []


@pytest.mark.parametrize('seed', [0, 1])
def test_moved_shuffled_detections_all_have_twins(seed):
    first = random_predictions(seed)
    diff = compare_predictions(first, perturbed(first, seed + 10))
    assert diff.same and diff.images == 5 and diff.detections == (150, 150)
    assert diff.twins == 150 and not any(diff.at_cut)
    assert 0 < diff.max_score_diff <= 5e-5 + 1e-7 and 0 < diff.max_box_diff <= 5e-3 + 1e-4


def test_what_has_no_twin_is_listed_and_a_tie_at_the_cut_is_counted_apart():
    first = [image(1, [[0, 0, 10, 10], [20, 20, 40, 40], [5, 5, 9, 9], [50, 50, 60, 60]],
                   [0.9, 0.8, 0.3, 0.1], [0, 1, 2, 0])]
    second = [image(1, [[0, 0, 10, 10], [20, 20, 40, 40], [5, 5, 9, 9], [70, 70, 80, 80]],
                    [0.9, 0.8, 0.3, 0.10005], [0, 2, 2, 0])]  # another class; another box
    diff = compare_predictions(first, second, names=('a.pkl', 'b.pkl'))
    assert diff.twins == 2 and not diff.same
    # the 0.8 box changed class: a difference in both files
    assert [(d.label, d.score) for d in diff.unpaired[0]] == [(1, pytest.approx(0.8))]
    assert [(d.label, d.score) for d in diff.unpaired[1]] == [(2, pytest.approx(0.8))]
    # each file's lowest, 0.1 and 0.10005, scores within 1e-4 of the other's lowest: a tie
    assert [d.bbox for d in diff.at_cut[0]] == [(50, 50, 60, 60)]
    assert [d.bbox for d in diff.at_cut[1]] == [(70, 70, 80, 80)]
    text = format_prediction_diff(diff, ('a.pkl', 'b.pkl'), 1e-4, 0.01)
    assert 'detections: 4 in a.pkl, 4 in b.pkl' in text
    assert 'at the cut' in text and ': 1 in a.pkl, 1 in b.pkl' in text
    assert 'without a twin: 1 in a.pkl, 1 in b.pkl' in text
    assert 'image 1: label 1, score 0.800000, box [20.00, 20.00, 40.00, 40.00]' in text
    assert text.endswith('different detections')
    # only the tie is left above 0.2: the same detections
    second[0]['pred_instances']['labels'][1] = 1
    assert compare_predictions(first, second).same


def test_score_thr_leaves_low_scores_out_and_makes_ties_at_it_ties():
    first = [image(7, [[0, 0, 10, 10], [30, 30, 50, 50], [60, 60, 70, 70]],
                   [0.9, 0.2, 0.05003], [0, 0, 1])]
    second = [image(7, [[0, 0, 10, 10]], [0.9], [0])]  # lost the 0.2; 0.05003 fell below 0.05
    diff = compare_predictions(first, second)
    assert not diff.same and [d.score for d in diff.unpaired[0]] == pytest.approx([0.2, 0.05003])
    diff = compare_predictions(first, second, score_thr=0.05)
    assert [d.score for d in diff.unpaired[0]] == pytest.approx([0.2])
    assert [d.score for d in diff.at_cut[0]] == pytest.approx([0.05003])
    diff = compare_predictions(first, second, score_thr=0.3)
    assert diff.same and diff.detections == (1, 1) and diff.twins == 1 and not any(diff.at_cut)


def test_an_image_without_detections_in_the_other_file():
    first = [image(3, [[0, 0, 10, 10]], [0.00005], [1])]
    second = [image(3, [], [], [])]
    diff = compare_predictions(first, second)
    assert diff.same and len(diff.at_cut[0]) == 1  # within 1e-4 of 0, where nothing was kept
    first[0]['pred_instances']['scores'][0] = 0.4
    assert not compare_predictions(first, second).same


@pytest.mark.parametrize('second, message', [
    ([image(1, [], [], []), image(9, [], [], [])], r'1 only in a \(2\), 1 only in b \(9\)'),
    ([image(1, [], [], []), image(1, [], [], [])], 'b holds image 1 twice'),
    ({'img_id': 1}, r'not what tools/test.py --out writes \(a list of dicts with img_id and '
                    r'pred_instances\): b$'),
    ([image(1, [], [], []), dict(img_id=2, pred_instances=dict(bboxes=torch.zeros(2, 4),
                                                               scores=torch.zeros(2)))],
     "b: pred_instances of image 2 have no 'labels'"),
    ([image(1, [], [], []), image(2, np.zeros((3, 4)), np.zeros(2), np.zeros(2))],
     r'b: image 2 has \(3, 4\) boxes'),
])
def test_bad_input_is_refused_with_the_reason(second, message):
    first = [image(1, [], [], []), image(2, [], [], [])]
    with pytest.raises(ValueError, match=message):
        compare_predictions(first, second, names=('a', 'b'))


def test_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match='tolerances must be >= 0'):
        compare_predictions([], [], score_tol=-1)


@pytest.mark.parametrize('config, thr', [
    ('configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py', 0.05),
    ('configs/bccd/faster-rcnn_ghostnet-1.0x_fpn_50e_bccd.py', 0.05),  # test_cfg.rcnn
])
def test_config_score_thr_reads_the_threshold_the_model_cuts_at(config, thr):
    cfg = load_config(REPO / config)
    assert config_score_thr(cfg) == thr
    head = 'rcnn' in cfg.model.test_cfg
    (cfg.model.test_cfg.rcnn if head else cfg.model.test_cfg).score_thr = 0.25
    assert config_score_thr(cfg) == 0.25


@pytest.mark.parametrize('cfg, message', [
    (dict(model=dict(test_cfg=dict(rpn=dict(), rcnn=dict(max_per_img=10)))),
     r'no model.test_cfg.score_thr \(nor model.test_cfg.rcnn.score_thr\)'),
    (dict(model=dict()), 'no model.test_cfg.score_thr'),
    (dict(model=dict(test_cfg=dict(score_thr=1.5))),
     r'model.test_cfg.score_thr must be in \[0, 1\], but got 1.5'),
])
def test_config_score_thr_refuses_a_config_without_a_threshold(cfg, message):
    with pytest.raises(ValueError, match=message):
        config_score_thr(cfg)
