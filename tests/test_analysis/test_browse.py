"""browse_dataset on the synthetic shapes (320x256 images, the quickstart's scale, so the
pipeline's resize keeps the annotation's coordinates): the boxes drawn are the annotations as
the pipeline leaves them (flipped with the image), drawn where they are and nowhere else."""
import json
from pathlib import Path

import mmcv
import numpy as np
import pytest

from ghostdet.analysis.browse import browse_dataset
from ghostdet.datasets import make_synthetic_coco
from tests.helpers import REPO

CONFIG = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_coco(root, num_train=6, num_val=3, num_test=2, seed=1)
    return root


def options(root, split='train'):
    return {f'{split}_dataloader.dataset.data_root': f'{root}/'}


def annotated_boxes(root, split):
    """{file name: ([x1, y1, x2, y2], ...)} of an annotation file, and the class names."""
    coco = json.loads((root / f'annotations/{split}.json').read_text())
    names = {c['id']: c['name'] for c in coco['categories']}
    files = {i['id']: i['file_name'] for i in coco['images']}
    boxes = {name: [] for name in files.values()}
    for a in coco['annotations']:
        x, y, w, h = a['bbox']
        boxes[files[a['image_id']]].append(([x, y, x + w, y + h], names[a['category_id']]))
    return boxes


def test_val_pictures_show_each_annotated_box_where_it_is(data_root, tmp_path):
    records = browse_dataset(CONFIG, str(tmp_path), 'val', num_images=10,
                             cfg_options=options(data_root, 'val'), progress=False)
    expected = annotated_boxes(data_root, 'val')
    assert [Path(r['picture']).name for r in records] == sorted(expected)  # all 3 of 10
    for record in records:
        name = Path(record['image']).name
        assert record['flip'] is None  # the test pipeline does not flip
        assert sorted(zip(map(tuple, record['boxes']), record['classes'])) == sorted(
            (tuple(map(float, box)), cls) for box, cls in expected[name])
        picture = mmcv.imread(record['picture']).astype(int)
        image = mmcv.imread(str(data_root / 'images' / name)).astype(int)
        changed = np.abs(picture - image).max(2) > 40  # beyond the JPEG's noise
        allowed = np.zeros_like(changed)
        for x1, y1, x2, y2 in np.array(record['boxes'], int):
            allowed[max(y1 - 3, 0):y2 + 4, max(x1 - 3, 0):x2 + 4] = True
            allowed[max(y1 - 3, 0):y1 + 16, max(x1 - 3, 0):x1 + 70] = True  # the class label
            edge = changed[y1, x1:x2 + 1]  # the box's top side is drawn
            assert edge.mean() > 0.5, (name, (x1, y1, x2, y2))
        assert changed.any() and not (changed & ~allowed).any(), name
    overview = mmcv.imread(str(tmp_path / 'overview.png'))
    assert overview.shape[1] == 2 * 320  # 3 pictures: 2 columns


def test_train_pictures_are_the_pipelines_flips_the_same_for_one_seed(data_root, tmp_path):
    run = [browse_dataset(CONFIG, str(tmp_path / f'run{i}'), num_images=6, seed=seed,
                          cfg_options=options(data_root), progress=False)
           for i, seed in enumerate((3, 3, 4))]
    strip = [[{k: v for k, v in r.items() if k != 'picture'} for r in records]
             for records in run]
    assert strip[0] == strip[1] and strip[0] != strip[2]
    expected = annotated_boxes(data_root, 'train')
    flips = [r['flip'] for records in run for r in records]
    assert 'horizontal' in flips and None in flips  # RandomFlip(prob=0.5)
    for record in run[0] + run[2]:
        boxes = [box for box, _ in expected[Path(record['image']).name]]
        if record['flip'] == 'horizontal':
            boxes = [[320 - x2, y1, 320 - x1, y2] for x1, y1, x2, y2 in boxes]
        assert sorted(map(tuple, record['boxes'])) == sorted(
            tuple(map(float, box)) for box in boxes)


def test_a_repeated_image_gets_its_own_picture_and_bad_input_is_refused(data_root, tmp_path):
    config = tmp_path / 'repeated.py'
    config.write_text(f'_base_ = {CONFIG!r}\nval_dataloader = dict(dataset=dict(_delete_=True, '
                      "type='RepeatDataset', times=2, dataset={{_base_.val_dataloader.dataset}}))"
                      '\n')
    records = browse_dataset(str(config), str(tmp_path / 'out'), 'val',
                             cfg_options={'val_dataloader.dataset.dataset.data_root':
                                          f'{data_root}/'}, progress=False)
    assert [Path(r['picture']).name for r in records] == [
        'val_00000.jpg', 'val_00001.jpg', 'val_00002.jpg',
        'val_00000_2.jpg', 'val_00001_2.jpg', 'val_00002_2.jpg']
    with pytest.raises(ValueError, match="split must be one of train, val, test, got 'tset'"):
        browse_dataset(CONFIG, str(tmp_path), 'tset')
    with pytest.raises(ValueError, match='num_images must be at least 1'):
        browse_dataset(CONFIG, str(tmp_path), num_images=0)
    with pytest.raises(FileNotFoundError, match='test_dataloader.dataset.ann_file'):
        browse_dataset(CONFIG, str(tmp_path), 'test',
                       cfg_options={'test_dataloader.dataset.data_root': '/nonexistent/'})
