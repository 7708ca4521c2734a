import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from ghostdet.datasets.synthetic import (MIN_SIZE, SYNTHETIC_CLASSES, make_synthetic_coco,
                                         render_image)

COUNTS = dict(num_train=6, num_val=3, num_test=2)


@pytest.fixture(scope='module')
def shapes(tmp_path_factory) -> dict:
    return make_synthetic_coco(tmp_path_factory.mktemp('shapes'), seed=3, verbose=False, **COUNTS)


def load(paths: dict, split: str) -> dict:
    return json.loads(paths[split].read_text())


def test_counts_categories_and_files(shapes: dict):
    for split, n in dict(train=6, val=3, test=2).items():
        coco = load(shapes, split)
        assert len(coco['images']) == n
        assert [c['id'] for c in coco['categories']] == [1, 2, 3]
        assert tuple(c['name'] for c in coco['categories']) == SYNTHETIC_CLASSES
        assert all((shapes['img_dir'] / i['file_name']).is_file() for i in coco['images'])
        per_image = np.bincount([a['image_id'] for a in coco['annotations']], minlength=n + 1)
        assert per_image[1:].min() >= 1 and per_image.max() <= 5
    assert json.loads(shapes['manifest'].read_text())['num_images'] == dict(train=6, val=3,
                                                                            test=2)


def test_boxes_inside_the_image_with_area(shapes: dict):
    coco = load(shapes, 'train')
    sizes = {i['id']: (i['width'], i['height']) for i in coco['images']}
    assert set(sizes.values()) == {(320, 256)}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        width, height = sizes[ann['image_id']]
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
        assert w >= MIN_SIZE * 0.5 and h >= MIN_SIZE * 0.5
        assert ann['area'] == w * h and ann['iscrowd'] == 0
        assert ann['category_id'] in (1, 2, 3)
    assert len({a['id'] for a in coco['annotations']}) == len(coco['annotations'])


def test_same_seed_gives_identical_files_and_other_seeds_differ(shapes: dict, tmp_path: Path):
    again = make_synthetic_coco(tmp_path / 'again', seed=3, verbose=False, **COUNTS)
    for split in ('train', 'val', 'test'):
        assert again[split].read_bytes() == shapes[split].read_bytes()
    image = 'train_00000.jpg'
    assert (again['img_dir'] / image).read_bytes() == (shapes['img_dir'] / image).read_bytes()
    other = make_synthetic_coco(tmp_path / 'other', seed=4, verbose=False, **COUNTS)
    assert other['train'].read_bytes() != shapes['train'].read_bytes()


def test_a_split_does_not_depend_on_the_others_sizes(shapes: dict, tmp_path: Path):
    bigger = make_synthetic_coco(tmp_path / 'bigger', seed=3, num_train=2, num_val=3, num_test=2,
                                 verbose=False)
    assert bigger['val'].read_bytes() == shapes['val'].read_bytes()


def test_complete_folder_is_reused_and_incomplete_one_regenerated(tmp_path: Path, capsys):
    paths = make_synthetic_coco(tmp_path, num_train=2, num_val=1, num_test=1)
    stamp = paths['train'].stat().st_mtime_ns
    make_synthetic_coco(tmp_path, num_train=2, num_val=1, num_test=1)
    assert 'already complete' in capsys.readouterr().out
    assert paths['train'].stat().st_mtime_ns == stamp

    (paths['img_dir'] / 'val_00000.jpg').unlink()
    make_synthetic_coco(tmp_path, num_train=2, num_val=1, num_test=1, verbose=False)
    assert (paths['img_dir'] / 'val_00000.jpg').is_file()

    make_synthetic_coco(tmp_path, num_train=3, num_val=1, num_test=1, verbose=False)
    assert len(load(paths, 'train')['images']) == 3


def test_render_image_returns_an_image_and_its_boxes():
    img, objects = render_image(np.random.default_rng(0), 320, 256)
    assert img.shape == (256, 320, 3) and img.dtype == np.uint8
    assert 2 <= len(objects) <= 5
    for label, (x, y, w, h) in objects:
        assert label in (0, 1, 2)
        assert w >= MIN_SIZE * 0.5 and h >= MIN_SIZE * 0.5
        assert x >= 0 and y >= 0 and x + w <= 320 and y + h <= 256
    again, _ = render_image(np.random.default_rng(0), 320, 256)
    assert np.array_equal(img, again)


def test_loads_with_pycocotools_and_mmdet(shapes: dict):
    coco = COCO(str(shapes['train']))
    assert len(coco.getImgIds()) == 6
    assert coco.getCatIds(catNms=['triangle']) == [3]

    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    register_all_modules()
    dataset = CocoDataset(
        data_root=str(shapes['root']), ann_file='annotations/train.json',
        data_prefix=dict(img='images/'), metainfo=dict(classes=SYNTHETIC_CLASSES),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)])
    assert len(dataset) == 6
    sample = dataset[0]
    assert sample['img'].shape == (256, 320, 3)
    first = load(shapes, 'train')['annotations']
    expected = [a['bbox'] for a in first if a['image_id'] == sample['img_id']]
    got = sample['gt_bboxes'].tensor.numpy()
    np.testing.assert_allclose(got, [[x, y, x + w, y + h] for x, y, w, h in expected])
    assert set(sample['gt_bboxes_labels'].tolist()) <= {0, 1, 2}
