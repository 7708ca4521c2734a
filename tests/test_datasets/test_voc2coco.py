import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from ghostdet.datasets.voc2coco import (UnknownClassError, collect_class_names,
                                        convert_voc_to_coco, read_class_names)
from tests.helpers import REPO

# the shared/ folder beside the checkout
BCCD = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'data' / 'bccd' / 'BCCD'

# name, (xmin, ymin, xmax, ymax) as strings, difficult
Obj = Tuple[str, Tuple[str, str, str, str], int]


def write_voc(root: Path, images: Dict[str, List[Obj]], splits: Dict[str, Sequence[str]],
              size: Tuple[int, int] = (64, 48), write_size: bool = True) -> Path:
    """A tiny VOC dataset: black JPEGs of ``size`` (w, h) and one xml per image."""
    for sub in ('Annotations', 'ImageSets/Main', 'JPEGImages'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for image_id, objects in images.items():
        cv2.imwrite(str(root / 'JPEGImages' / f'{image_id}.jpg'),
                    np.zeros((size[1], size[0], 3), np.uint8))
        objs = ''.join(
            f'<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>'
            f'<xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax>'
            '</bndbox></object>' for name, b, difficult in objects)
        size_xml = (f'<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth>'
                    '</size>' if write_size else '')
        (root / 'Annotations' / f'{image_id}.xml').write_text(
            f'<annotation><filename>{image_id}.jpg</filename>{size_xml}{objs}</annotation>')
    for split, ids in splits.items():
        (root / 'ImageSets' / 'Main' / f'{split}.txt').write_text('\n'.join(ids) + '\n')
    return root


def box(*values) -> Tuple[str, str, str, str]:
    return tuple(str(v) for v in values)


@pytest.fixture
def voc(tmp_path: Path) -> Path:
    images = {
        'a': [('cat', box(11, 21, 30, 40), 0), ('dog', box(1, 1, 64, 48), 1)],
        'b': [('cat', box(5, 5, 5, 20), 0),           # degenerate: xmax == xmin
              ('dog', box(30, 30, 20, 40), 0),        # degenerate: xmax < xmin
              ('cat', box(70, 10, 90, 20), 0),        # wholly right of the 64-wide image
              ('dog', box(-9, 11, 20, 60), 0),        # partly outside: clipped
              ('cat', box('a', 1, 2, 3), 0),          # non-numeric: malformed
              ('cat', box(2, 3, 12.5, 13), 0)],
        'c': [],
    }
    return write_voc(tmp_path / 'VOC', images, dict(train=['a', 'b'], val=['c'], test=['a']))


def test_converts_boxes_classes_and_file_names(voc: Path, tmp_path: Path):
    reports = convert_voc_to_coco(voc, tmp_path / 'out', classes=('dog', 'cat'), verbose=False)
    assert set(reports) == {'train', 'val', 'test'}
    train = json.loads((tmp_path / 'out' / 'train.json').read_text())
    assert train['categories'] == [dict(id=1, name='dog', supercategory='none'),
                                   dict(id=2, name='cat', supercategory='none')]
    assert [(i['id'], i['file_name'], i['width'], i['height']) for i in train['images']] == [
        (1, 'a.jpg', 64, 48), (2, 'b.jpg', 64, 48)]
    anns = [(a['image_id'], a['category_id'], a['bbox'], a['area'], a['iscrowd'])
            for a in train['annotations']]
    assert anns == [
        (1, 2, [10, 20, 19, 19], 361, 0),          # VOC is 1-based: minus 1 as mmdet does
        (1, 1, [0, 0, 63, 47], 63 * 47, 1),        # difficult -> iscrowd
        (2, 1, [0, 10, 19, 38], 19 * 38, 0),       # clipped to x >= 0 and y <= 48
        (2, 2, [1, 2, 10.5, 10], 105, 0),
    ]
    assert [a['id'] for a in train['annotations']] == [1, 2, 3, 4]
    (image_file,) = {i['file_name'] for i in train['images'] if i['id'] == 1}
    assert (voc / 'JPEGImages' / image_file).is_file()
    assert reports['train'].boxes_per_class == {'dog': 2, 'cat': 2}
    assert reports['test'].num_images == 1 and reports['val'].num_boxes == 0


def test_bad_boxes_are_dropped_and_reported_with_files(voc: Path, tmp_path: Path):
    reports = convert_voc_to_coco(voc, tmp_path / 'out', classes=('cat', 'dog'), verbose=False)
    train = reports['train']
    reasons = sorted((i.file, i.class_name, i.reason) for i in train.dropped)
    assert reasons == [('Annotations/b.xml', 'cat', 'degenerate'),
                       ('Annotations/b.xml', 'cat', 'malformed'),
                       ('Annotations/b.xml', 'cat', 'outside the image'),
                       ('Annotations/b.xml', 'dog', 'degenerate')]
    assert [(i.file, i.bbox) for i in train.clipped] == [('Annotations/b.xml', (-9, 11, 20, 60))]
    summary = train.summary()
    assert 'dropped 4, clipped 1' in summary
    assert summary.count('Annotations/b.xml') == 5
    assert reports['test'].dropped == [] and reports['val'].dropped == []


def test_summary_is_printed(voc: Path, tmp_path: Path, capsys):
    convert_voc_to_coco(voc, tmp_path / 'out', classes=('cat', 'dog'))
    out = capsys.readouterr().out
    assert 'train: 2 images, 4 boxes (cat 2, dog 2); dropped 4' in out
    assert 'Annotations/b.xml: cat (5, 5, 5, 20) degenerate' in out


def test_output_loads_with_pycocotools(voc: Path, tmp_path: Path):
    convert_voc_to_coco(voc, tmp_path / 'out', classes=('cat', 'dog'), image_prefix='JPEGImages/',
                        verbose=False)
    coco = COCO(str(tmp_path / 'out' / 'train.json'))
    assert coco.getCatIds(catNms=['dog']) == [2]
    assert len(coco.getAnnIds(imgIds=[2])) == 2
    assert coco.loadImgs([1])[0]['file_name'] == 'JPEGImages/a.jpg'
    assert (voc / coco.loadImgs([1])[0]['file_name']).is_file()


def test_unknown_class_names_file_and_class(voc: Path, tmp_path: Path):
    with pytest.raises(UnknownClassError, match=r"Annotations/a\.xml.*'dog'"):
        convert_voc_to_coco(voc, tmp_path / 'out', classes=('cat',), verbose=False)


def test_unknown_class_can_be_skipped_and_reported(voc: Path, tmp_path: Path):
    reports = convert_voc_to_coco(voc, tmp_path / 'out', classes=('cat',), skip_unknown=True,
                                  verbose=False)
    skipped = reports['train'].skipped_unknown
    assert sorted((i.file, i.class_name) for i in skipped) == [
        ('Annotations/a.xml', 'dog'), ('Annotations/b.xml', 'dog'), ('Annotations/b.xml', 'dog')]
    train = json.loads((tmp_path / 'out' / 'train.json').read_text())
    assert {a['category_id'] for a in train['annotations']} == {1}
    assert reports['train'].boxes_per_class == {'cat': 2}


def test_classes_default_to_sorted_names_in_the_xml(voc: Path, tmp_path: Path):
    assert collect_class_names(voc, ['a', 'b']) == ('cat', 'dog')
    convert_voc_to_coco(voc, tmp_path / 'out', verbose=False)
    train = json.loads((tmp_path / 'out' / 'train.json').read_text())
    assert [c['name'] for c in train['categories']] == ['cat', 'dog']


def test_size_is_read_from_the_image_when_the_xml_lacks_it(tmp_path: Path):
    root = write_voc(tmp_path / 'VOC', {'x': [('cat', box(1, 1, 10, 10), 0)]},
                     dict(train=['x']), size=(40, 30), write_size=False)
    reports = convert_voc_to_coco(root, tmp_path / 'out', splits=('train',), verbose=False)
    image = json.loads(reports['train'].json_path.read_text())['images'][0]
    assert (image['width'], image['height']) == (40, 30)


def test_missing_split_file_and_image_are_named(voc: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r'trainval\.txt'):
        convert_voc_to_coco(voc, tmp_path / 'out', splits=('trainval',), verbose=False)
    (voc / 'JPEGImages' / 'c.jpg').unlink()
    with pytest.raises(FileNotFoundError, match=r'Annotations/c\.xml.*c\.jpg'):
        convert_voc_to_coco(voc, tmp_path / 'out', splits=('val',), verbose=False)


def test_broken_xml_and_missing_xml_are_named(voc: Path, tmp_path: Path):
    (voc / 'Annotations' / 'c.xml').write_text('<annotation><filename>c.jpg</filename>')
    with pytest.raises(ValueError, match=r'Annotations/c\.xml is not well-formed xml'):
        convert_voc_to_coco(voc, tmp_path / 'out', splits=('val',), verbose=False)
    (voc / 'Annotations' / 'c.xml').unlink()
    with pytest.raises(FileNotFoundError,
                       match=r'Annotations/c\.xml does not exist \(listed in a split file\)'):
        convert_voc_to_coco(voc, tmp_path / 'out', splits=('val',), verbose=False)
    assert not (tmp_path / 'out' / 'val.json').exists()


def test_size_without_xml_size_or_image_is_named(tmp_path: Path):
    """An annotation-only copy (no JPEGImages/) whose xml has no usable <size>: the size
    cannot be read anywhere, so the file is named instead of writing width 0."""
    root = write_voc(tmp_path / 'VOC', {'x': [('cat', box(1, 1, 10, 10), 0)]},
                     dict(train=['x']), write_size=False)
    for image in (root / 'JPEGImages').iterdir():
        image.unlink()
    (root / 'JPEGImages').rmdir()
    with pytest.raises(ValueError, match=r'Annotations/x\.xml has no valid <size> and '
                                         r'.*JPEGImages/x\.jpg is absent'):
        convert_voc_to_coco(root, tmp_path / 'out', splits=('train',), verbose=False)
    xml = root / 'Annotations' / 'x.xml'
    xml.write_text(xml.read_text().replace(
        '</filename>', '</filename><size><width>4O</width><height>30</height></size>'))
    with pytest.raises(ValueError, match='no valid <size>'):  # 4O, a letter O: not a number
        convert_voc_to_coco(root, tmp_path / 'out', splits=('train',), verbose=False)
    xml.write_text(xml.read_text().replace('4O', '40'))  # annotation-only, sized: trusted
    reports = convert_voc_to_coco(root, tmp_path / 'out', splits=('train',), verbose=False)
    image = json.loads(reports['train'].json_path.read_text())['images'][0]
    assert (image['file_name'], image['width'], image['height']) == ('x.jpg', 40, 30)


def test_duplicate_or_no_classes_are_refused(voc: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="classes has duplicates: \\('cat', 'dog', 'cat'\\)"):
        convert_voc_to_coco(voc, tmp_path / 'out', classes=('cat', 'dog', 'cat'),
                            verbose=False)
    empty = tmp_path / 'classes.txt'
    empty.write_text('# no names yet\n\n')
    with pytest.raises(ValueError, match='classes.txt lists no class names'):
        read_class_names(empty)


def test_read_class_names(tmp_path: Path):
    path = tmp_path / 'classes.txt'
    path.write_text('RBC\n\n# white cells\nWBC  \nPlatelets\n')
    assert read_class_names(path) == ('RBC', 'WBC', 'Platelets')
    path.write_text('RBC\nRBC\n')
    with pytest.raises(ValueError, match='RBC'):
        read_class_names(path)


def test_cli(voc: Path, tmp_path: Path):
    classes_file = tmp_path / 'classes.txt'
    classes_file.write_text('cat\ndog\n')
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools/dataset_converters/voc2coco.py'), str(voc),
         str(tmp_path / 'out'), '--classes-file', str(classes_file), '--splits', 'train', 'val'],
        capture_output=True, text=True, check=True)
    assert 'dropped 4' in result.stdout
    assert 'Annotations/b.xml' in result.stdout
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['train.json', 'val.json']


@pytest.mark.parametrize('args, message', [
    (['{voc}', '{out}', '--classes', 'cat'],
     r"error: Annotations/a.xml: object class 'dog' is not among the classes .*--skip-unknown\)"),
    (['{tmp}/nowhere', '{out}'], 'error: {tmp}/nowhere is not a VOC root: it has no '
                                 'Annotations/ folder'),
])
def test_cli_input_errors_are_one_line(voc: Path, tmp_path: Path, args, message):
    names = dict(voc=voc, out=tmp_path / 'out', tmp=tmp_path)
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools/dataset_converters/voc2coco.py')]
        + [a.format(**names) for a in args], capture_output=True, text=True)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert re.fullmatch(message.format(**names) + '\n', result.stderr.splitlines(True)[-1])


@pytest.mark.skipif(
    not BCCD.is_dir(),
    reason=f'{BCCD} is absent: it comes with the shared/ folder beside the checkout')
def test_bccd(tmp_path: Path):
    reports = convert_voc_to_coco(BCCD, tmp_path, classes=('RBC', 'WBC', 'Platelets'))
    assert {s: r.num_images for s, r in reports.items()} == dict(train=205, val=87, test=72)
    dropped = [i for r in reports.values() for i in r.dropped]
    assert len(dropped) == 2
    assert all(i.reason == 'degenerate' for i in dropped)
    assert sorted(i.file for i in dropped) == ['Annotations/BloodImage_00338.xml',
                                               'Annotations/BloodImage_00343.xml']
    assert sum(len(r.clipped) + len(r.skipped_unknown) for r in reports.values()) == 0
    per_class = {name: sum(r.boxes_per_class[name] for r in reports.values())
                 for name in ('RBC', 'WBC', 'Platelets')}
    dropped_per_class = {name: sum(i.class_name == name for i in dropped) for name in per_class}
    totals = dict(RBC=4155, WBC=372, Platelets=361)
    assert {n: per_class[n] + dropped_per_class[n] for n in per_class} == totals
    assert sum(per_class.values()) == 4888 - 2
    test = COCO(str(reports['test'].json_path))
    assert len(test.getAnnIds()) == reports['test'].num_boxes
    first = test.loadImgs(test.getImgIds()[:1])[0]
    assert (BCCD / 'JPEGImages' / first['file_name']).is_file()
    assert (first['width'], first['height']) == (640, 480)
