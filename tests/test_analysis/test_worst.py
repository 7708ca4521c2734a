"""worst_images: per-image errors by the confusion matrix's matching, drawn in their colours,
ranked worst first; on synthetic images with hand-made predictions (no model needed)."""
import json
import pickle

import mmcv
import numpy as np
import pytest
import torch

from ghostdet.analysis.worst import COLORS, draw_errors, image_errors, summary, worst_images
from ghostdet.datasets import make_synthetic_coco
from tests.helpers import REPO

CONFIG = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')


def prediction(img_id, boxes, scores, labels):
    return dict(img_id=img_id, pred_instances=dict(
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        scores=torch.tensor(scores, dtype=torch.float32), labels=torch.tensor(labels)))


def test_each_box_and_detection_gets_one_kind():
    """Box 0 found; box 1 found as another class; box 2 missed; a crowd box; a detection on no
    box, one on the crowd box (not counted) and one below the score threshold (left out)."""
    info = dict(img_id=7, img_path='x.jpg', instances=[
        dict(bbox=[0, 0, 50, 50], bbox_label=0), dict(bbox=[100, 100, 150, 150], bbox_label=1),
        dict(bbox=[200, 200, 250, 250], bbox_label=2),
        dict(bbox=[300, 0, 450, 150], bbox_label=0, ignore_flag=1)])
    dataset = type('Dataset', (), dict(metainfo=dict(classes=('a', 'b', 'c')),
                                       __len__=lambda self: 1,
                                       get_data_info=lambda self, i: info))()
    dets = prediction(7, [[0, 0, 50, 50], [100, 100, 150, 155], [0, 300, 50, 350],
                          [305, 0, 450, 150], [200, 200, 250, 250]],
                      [0.9, 0.8, 0.7, 0.6, 0.1], [0, 2, 1, 0, 2])
    (record,) = image_errors(dataset, [dets], score_thr=0.3)
    assert {k: record[k] for k in ('boxes', 'found', 'missed', 'confused', 'false', 'errors')} \
        == dict(boxes=3, found=1, missed=1, confused=1, false=1, errors=3)
    assert [(kind, text) for kind, _, text in record['drawn']] == [
        ('found', 'a'), ('confused', 'c (is b)'), ('false', 'b 0.70'), ('missed', 'c')]
    assert summary(record) == '3 boxes: 1 missed, 1 confused; 1 detection on no box'
    # the confusion matrix of the same image counts the same
    from ghostdet.analysis.confusion import confusion_matrix
    matrix = confusion_matrix(dataset, [dets], score_thr=0.3, progress=False)
    assert (np.trace(matrix[:3, :3]), matrix[:3, 3].sum(), matrix[3, :3].sum(),
            matrix[:3, :3].sum() - np.trace(matrix[:3, :3])) == (1, 1, 1, 1)
    # the found box is drawn where the box is, the others where the detection is
    assert [list(map(float, box)) for _, box, _ in record['drawn']] == [
        [0, 0, 50, 50], [100, 100, 150, 155], [0, 300, 50, 350], [200, 200, 250, 250]]
    picture = draw_errors(np.zeros((500, 500, 3), np.uint8), record['drawn'])
    for (kind, (x1, y1, x2, y2), _), colour in zip(record['drawn'], ([0, 170, 0], [200, 0, 200],
                                                                       [0, 140, 255],
                                                                       [0, 0, 230])):
        assert COLORS[kind] == tuple(colour)
        assert (picture[int(y2), int(x1):int(x2)] == colour).all(), kind  # its bottom side


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_coco(root, num_train=1, num_val=1, num_test=5, seed=2)
    return root


def test_the_worst_images_are_drawn_worst_first(data_root, tmp_path):
    """Predictions equal to the boxes, then: image 2 misses two boxes, image 4 one box and
    has a detection on no box, image 1 confuses one: 2 + 2 + 1 errors; images 3 and 5 have
    none and are not drawn. ``top`` 2 draws the first two; ties go to fewer boxes found."""
    coco = json.loads((data_root / 'annotations/test.json').read_text())
    predictions = []
    for image in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        boxes = [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)]
        labels = [a['category_id'] - 1 for a in anns]
        if image['id'] == 2:
            boxes, labels = boxes[2:], labels[2:]
        if image['id'] == 4:
            boxes, labels = boxes[1:] + [[1, 1, 3, 3]], labels[1:] + [0]
        if image['id'] == 1:
            labels[0] = (labels[0] + 1) % 3
        predictions.append(prediction(image['id'], boxes, [0.9] * len(boxes), labels))
    pkl = tmp_path / 'results.pkl'
    pkl.write_bytes(pickle.dumps(predictions))
    data = {'test_dataloader.dataset.data_root': f'{data_root}/'}
    worst, total = worst_images(CONFIG, str(pkl), str(tmp_path / 'worst'), top=12,
                                cfg_options=data, progress=False)
    assert total == 5
    found = {i['id']: len([a for a in coco['annotations'] if a['image_id'] == i['id']])
             for i in coco['images']}
    order = sorted((2, 4), key=lambda i: found[i] - (2 if i == 2 else 1)) + [1]
    assert [r['image'].split('/')[-1] for r in worst] == [f'test_{i - 1:05d}.jpg' for i in order]
    assert [(r['missed'], r['false'], r['confused']) for r in worst] == [
        {2: (2, 0, 0), 4: (1, 1, 0), 1: (0, 0, 1)}[i] for i in order]
    assert sorted(p.name for p in (tmp_path / 'worst').iterdir()) == sorted(
        ['overview.png'] + [f'test_{i - 1:05d}.jpg' for i in order])
    picture = mmcv.imread(worst[0]['picture'])
    assert picture.shape == (256, 320, 3)
    top2, _ = worst_images(CONFIG, str(pkl), str(tmp_path / 'top2'), top=2, cfg_options=data,
                           progress=False)
    assert [r['image'] for r in top2] == [r['image'] for r in worst[:2]]
    with pytest.raises(ValueError, match='the predictions hold 4 images, the test set 5'):
        pkl.write_bytes(pickle.dumps(predictions[:4]))
        worst_images(CONFIG, str(pkl), str(tmp_path / 'w'), cfg_options=data, progress=False)
