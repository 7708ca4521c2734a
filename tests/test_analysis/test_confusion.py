"""The confusion matrix counts each box and detection once: hand cases for each rule, the row
and column sums on random data, the diagonal against pycocotools' own matching, and the files
it writes."""
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ghostdet.analysis.confusion import (confusion_matrix, format_confusion_table, match_image,
                                         save_confusion)

A = [0, 0, 10, 10]
B = [20, 20, 30, 30]
C = [40, 40, 50, 50]
FAR = [60, 60, 70, 70]


def matrix(gt, gt_labels, dets, scores, labels, **kwargs):
    return match_image(np.array(gt), np.array(gt_labels), np.array(dets), np.array(scores),
                       np.array(labels), num_classes=3, **kwargs)


def cells(m):
    """Non-zero cells as {(row, column): count}; row/column 3 is background/missed."""
    return {(int(i), int(j)): int(m[i, j]) for i, j in zip(*np.nonzero(m))}


def test_a_found_box_and_its_duplicate():
    # the higher score is the true positive; the duplicate is a false positive (mmdet: 2 TPs)
    m = matrix([A], [0], [A, [0, 0, 10, 11]], [0.9, 0.8], [0, 0])
    assert cells(m) == {(0, 0): 1, (3, 0): 1}


def test_a_confused_box_is_not_also_missed():
    # mmdet also counts it in the missed column (open-mmlab/mmdetection#10631)
    m = matrix([A, B], [0, 1], [A, B], [0.9, 0.9], [0, 2])
    assert cells(m) == {(0, 0): 1, (1, 2): 1}


def test_a_detection_on_two_boxes_is_counted_once():
    # IoU 0.91 with the class-0 box and 0.92 with the class-1 box: it is the class-0 box's match
    m = matrix([A, [0, 0, 10, 12]], [0, 1], [[0, 0, 10, 11]], [0.9], [0])
    assert cells(m) == {(0, 0): 1, (1, 3): 1}


def test_a_detection_takes_the_box_it_overlaps_most():
    # IoU 0.67 with the first box and 0.82 with the second; the next detection then finds the
    # first box still free (it overlaps the second by 0.43 only)
    m = matrix([A, [0, 3, 10, 13]], [0, 0], [[0, 2, 10, 12], [0, -1, 10, 9]], [0.9, 0.8],
               [0, 0])
    assert cells(m) == {(0, 0): 2}


def test_the_own_class_is_matched_before_a_higher_scoring_other_class():
    # the class-1 detection scores higher and overlaps more, but the class-0 one is correct
    m = matrix([A], [0], [A, [0, 0, 10, 11]], [0.9, 0.8], [1, 0])
    assert cells(m) == {(0, 0): 1, (3, 1): 1}


def test_score_and_iou_thresholds():
    dets, scores = [A, [0, 0, 10, 16], FAR], [0.9, 0.9, 0.2]
    assert cells(matrix([A, B], [0, 0], dets, scores, [0, 0, 0])) == {
        (0, 0): 1, (0, 3): 1, (3, 0): 1}  # IoU 0.625 is a duplicate; 0.2 is below the score
    assert cells(matrix([A, B], [0, 0], dets, scores, [0, 0, 0], score_thr=0.1)) == {
        (0, 0): 1, (0, 3): 1, (3, 0): 2}
    assert cells(matrix([[0, 0, 10, 16]], [0], [A], [0.9], [0], iou_thr=0.7)) == {
        (0, 3): 1, (3, 0): 1}


def test_empty_images():
    assert cells(matrix(np.zeros((0, 4)), [], [A, B], [0.9, 0.9], [2, 1])) == {(3, 2): 1, (3, 1): 1}
    assert cells(matrix([A, B], [0, 2], np.zeros((0, 4)), [], [])) == {(0, 3): 1, (2, 3): 1}


def test_ignored_boxes_and_detections_on_them_are_not_counted():
    m = matrix([A, B], [0, 1], [A, FAR], [0.9, 0.9], [0, 0], gt_ignore=[True, False])
    assert cells(m) == {(1, 3): 1, (3, 0): 1}


def test_a_label_outside_the_classes_is_refused():
    with pytest.raises(ValueError, match=r'detection label is outside 0\.\.2: \[5\]'):
        matrix([A], [0], [A], [0.9], [5])


def random_image(rng, num_gt):
    """Boxes, and detections made from them as a detector errs: jitter, wrong labels,
    duplicates and boxes on nothing."""
    xy = rng.uniform(0, 200, (num_gt, 2))
    gt = np.concatenate([xy, xy + rng.uniform(8, 40, (num_gt, 2))], 1).round(1)
    gt_labels = rng.integers(0, 3, num_gt)
    dets = [gt + rng.normal(0, 3, gt.shape), gt[: num_gt // 2] + rng.normal(0, 2, (num_gt // 2, 4))]
    labels = [np.where(rng.random(num_gt) < 0.2, rng.integers(0, 3, num_gt), gt_labels),
              gt_labels[: num_gt // 2]]
    noise = rng.uniform(0, 200, (3, 2))
    dets.append(np.concatenate([noise, noise + 20], 1))
    labels.append(rng.integers(0, 3, 3))
    dets = np.concatenate(dets)
    dets[:, 2:] = np.maximum(dets[:, 2:], dets[:, :2] + 1)
    return gt, gt_labels, dets, rng.random(len(dets)), np.concatenate(labels)


@pytest.mark.parametrize('seed', range(5))
def test_rows_sum_to_boxes_and_columns_to_detections(seed):
    rng = np.random.default_rng(seed)
    gt, gt_labels, dets, scores, labels = random_image(rng, 12)
    m = match_image(gt, gt_labels, dets, scores, labels, 3, score_thr=0.3)
    assert m[:3].sum(1).tolist() == np.bincount(gt_labels, minlength=3).tolist()
    assert m[:, :3].sum(0).tolist() == np.bincount(labels[scores >= 0.3], minlength=3).tolist()
    assert m[3, 3] == 0


@pytest.mark.parametrize('seed', range(3))
def test_diagonal_is_what_pycocotools_matches(seed, tmp_path):
    """COCOeval at IoU 0.5 on detections above the score threshold: its matched detections per
    class are our diagonal, and its unmatched boxes our missed column less the confused ones."""
    rng = np.random.default_rng(100 + seed)
    images, annotations, results = [], [], []
    ours = np.zeros((4, 4), dtype=np.int64)
    for img_id in range(6):
        gt, gt_labels, dets, scores, labels = random_image(rng, int(rng.integers(4, 15)))
        ours += match_image(gt, gt_labels, dets, scores, labels, 3, score_thr=0.3)
        images.append(dict(id=img_id, width=260, height=260))
        for box, label in zip(gt, gt_labels):
            w, h = box[2:] - box[:2]
            annotations.append(dict(id=len(annotations) + 1, image_id=img_id, iscrowd=0,
                                    category_id=int(label) + 1, area=float(w * h),
                                    bbox=[float(box[0]), float(box[1]), float(w), float(h)]))
        for box, score, label in zip(dets, scores, labels):
            if score >= 0.3:
                x1, y1, x2, y2 = (float(v) for v in box)
                results.append(dict(image_id=img_id, category_id=int(label) + 1,
                                    score=float(score), bbox=[x1, y1, x2 - x1, y2 - y1]))
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(dict(images=images, annotations=annotations, categories=[
        dict(id=i + 1, name=str(i)) for i in range(3)])))
    coco = COCO(str(ann_file))
    evaluator = COCOeval(coco, coco.loadRes(results), 'bbox')
    evaluator.params.iouThrs = np.array([0.5])
    evaluator.params.areaRng, evaluator.params.areaRngLbl = [[0, 1e10]], ['all']
    evaluator.evaluate()
    matched = np.zeros(3, dtype=np.int64)
    for e in evaluator.evalImgs:
        if e is not None:
            matched[e['category_id'] - 1] += int((e['dtMatches'][0] > 0).sum())
    assert np.diag(ours)[:3].tolist() == matched.tolist()
    assert matched.sum() > 10  # the random detections do find boxes


class FakeDataset:
    metainfo = dict(classes=('a', 'b', 'c'))

    def __init__(self, infos):
        self.infos = infos

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, i):
        return self.infos[i]


def test_test_set_matrix_and_its_errors(capsys):
    infos = [dict(img_id=7, instances=[dict(bbox=A, bbox_label=0, ignore_flag=0)]),
             dict(img_id=9, instances=[dict(bbox=B, bbox_label=2, ignore_flag=0)])]
    predictions = [dict(img_id=9, pred_instances=dict(bboxes=np.array([B]), scores=[0.9],
                                                      labels=[2])),
                   dict(img_id=7, pred_instances=dict(bboxes=np.zeros((0, 4)), scores=[],
                                                      labels=[]))]
    m = confusion_matrix(FakeDataset(infos), predictions)
    assert cells(m) == {(2, 2): 1, (0, 3): 1}  # matched by image id, not by position
    assert '] 2/2, ' in capsys.readouterr().out  # a progress bar, on the stdout of now
    with pytest.raises(ValueError, match='predictions hold 1 images, the test set 2'):
        confusion_matrix(FakeDataset(infos), predictions[:1])
    predictions[0]['img_id'] = 8
    with pytest.raises(ValueError, match='image id 8'):
        confusion_matrix(FakeDataset(infos), predictions)
    with pytest.raises(ValueError, match='not what tools/test.py --out writes'):
        confusion_matrix(FakeDataset(infos), {'bboxes': [A]})  # e.g. another tool's pickle


def test_table_and_files(tmp_path):
    m = np.array([[8, 1, 0, 1], [0, 3, 0, 1], [0, 0, 0, 2], [4, 0, 0, 0]])
    table = format_confusion_table(m, ['RBC', 'WBC', 'Platelets'])
    lines = table.splitlines()
    assert lines[2] == '| RBC | 8 | 1 | 0 | 1 | 0.800 |'
    assert lines[4] == '| Platelets | 0 | 0 | 0 | 2 | 0.000 |'
    assert lines[5] == '| background | 4 | 0 | 0 |  |  |'
    assert lines[6] == '| precision | 0.667 | 0.750 | - |  |  |'  # no Platelets detections
    paths = save_confusion(m, ['RBC', 'WBC', 'Platelets'], str(tmp_path), 0.5, 0.3)
    saved = json.loads(open(paths['json']).read())
    assert saved['counts'] == m.tolist() and saved['rows'][-1] == 'background'
    assert saved['columns'][-1] == 'missed' and saved['score_thr'] == 0.3
    assert open(paths['md']).read() == table + '\n'
    width, height = Image.open(paths['png']).size
    assert width >= 600 and height >= 500  # mmdet's 3-class figure is 360x288
