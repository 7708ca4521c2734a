import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.registry import DATASETS, HOOKS, MODELS, TRANSFORMS
from mmdet.utils import register_all_modules
from mmengine.hub import get_config
from mmengine.registry import DefaultScope

import ghostdet  # noqa: F401  (registers the checked transform, dataset and hook)
from ghostdet.datasets.checks import (AnnotationFileError, NumClassesMismatchError,
                                      check_config_num_classes,
                                      UnreadableImageError, UnreadableImageWarning,
                                      find_truncation, head_num_classes)
from ghostdet.datasets.synthetic import SYNTHETIC_CLASSES, make_synthetic_coco

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def mmdet_scope():
    """Build from mmdet's registries whatever scope an earlier test left current."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.fixture
def jpeg_bytes() -> bytes:
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), (5, 5), 0)
    return cv2.imencode('.jpg', img)[1].tobytes()


def load(path: Path, **kwargs):
    transform = TRANSFORMS.build(dict(type='LoadImageFromFileChecked', **kwargs))
    return transform(dict(img_path=str(path)))


# --------------------------------------------------------------------------- images

def test_good_images_load(tmp_path: Path, jpeg_bytes: bytes):
    (tmp_path / 'ok.jpg').write_bytes(jpeg_bytes)
    results = load(tmp_path / 'ok.jpg', to_float32=True)
    assert results['img'].shape == (96, 128, 3) and results['img'].dtype == np.float32
    assert results['img_shape'] == results['ori_shape'] == (96, 128)
    # bytes after the JPEG end marker (appended metadata) are no truncation
    (tmp_path / 'trailer.jpg').write_bytes(jpeg_bytes + b'trailing data')
    assert load(tmp_path / 'trailer.jpg')['img'].shape == (96, 128, 3)
    png = cv2.imencode('.png', np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    (tmp_path / 'ok.png').write_bytes(png)
    assert load(tmp_path / 'ok.png')['img'].shape == (8, 8, 3)


def test_missing_image_is_named(tmp_path: Path):
    path = tmp_path / 'nowhere.jpg'
    with pytest.raises(FileNotFoundError, match='nowhere.jpg'):
        load(path)


def test_corrupt_image_is_named(tmp_path: Path):
    path = tmp_path / 'corrupt.jpg'
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(UnreadableImageError, match=r'corrupt\.jpg is corrupt'):
        load(path)


def test_empty_image_is_named(tmp_path: Path):
    path = tmp_path / 'empty.jpg'
    path.write_bytes(b'')
    with pytest.raises(UnreadableImageError, match=r'empty\.jpg is empty'):
        load(path)


def test_truncated_jpeg_and_png_are_named(tmp_path: Path, jpeg_bytes: bytes):
    path = tmp_path / 'half.jpg'
    path.write_bytes(jpeg_bytes[:len(jpeg_bytes) // 2])
    with pytest.raises(UnreadableImageError, match=r'half\.jpg is a truncated JPEG'):
        load(path)
    png = cv2.imencode('.png', np.random.default_rng(1).integers(
        0, 255, (64, 64, 3), dtype=np.uint8))[1].tobytes()
    assert find_truncation(png) is None
    path = tmp_path / 'half.png'
    path.write_bytes(png[:len(png) // 2])
    with pytest.raises(UnreadableImageError, match=r'half\.png is a truncated PNG'):
        load(path)


def test_skip_unreadable_warns_with_the_file_and_returns_none(tmp_path: Path, jpeg_bytes):
    path = tmp_path / 'half.jpg'
    path.write_bytes(jpeg_bytes[:100])
    with pytest.warns(UnreadableImageWarning, match=r'half\.jpg'):
        assert load(path, skip_unreadable=True) is None
    with pytest.warns(UnreadableImageWarning, match=r'gone\.jpg'):
        assert load(tmp_path / 'gone.jpg', skip_unreadable=True) is None


@pytest.fixture
def shapes(tmp_path: Path) -> dict:
    return make_synthetic_coco(tmp_path / 'shapes', num_train=4, num_val=1, num_test=1,
                               verbose=False)


def shapes_dataset(paths: dict, ann_file: str = 'annotations/train.json', **kwargs):
    cfg = dict(type='CheckedCocoDataset', data_root=str(paths['root']), ann_file=ann_file,
               data_prefix=dict(img='images/'), metainfo=dict(classes=SYNTHETIC_CLASSES),
               pipeline=[dict(type='LoadImageFromFileChecked', skip_unreadable=True),
                         dict(type='LoadAnnotations', with_bbox=True)])
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_training_dataset_draws_another_sample_for_an_unreadable_image(shapes: dict):
    dataset = shapes_dataset(shapes)
    broken = dataset.get_data_info(0)
    Path(broken['img_path']).write_bytes(b'not an image at all')
    with pytest.warns(UnreadableImageWarning, match=Path(broken['img_path']).name):
        sample = dataset[0]
    assert sample['img_id'] != broken['img_id']
    assert sample['img'].shape == (256, 320, 3)


# --------------------------------------------------------------------------- annotation files

def test_checked_dataset_loads_a_good_file(shapes: dict):
    dataset = shapes_dataset(shapes)
    assert len(dataset) == 4
    assert dataset.metainfo['classes'] == SYNTHETIC_CLASSES
    plain = DATASETS.build(dict(type='CocoDataset', data_root=str(shapes['root']),
                                ann_file='annotations/train.json',
                                data_prefix=dict(img='images/'),
                                metainfo=dict(classes=SYNTHETIC_CLASSES)))
    instances = [dataset.get_data_info(i)['instances'] for i in range(len(dataset))]
    assert sum(len(i) for i in instances) == len(json.loads(shapes['train'].read_text())[
        'annotations'])
    assert instances == [plain.get_data_info(i)['instances'] for i in range(len(plain))]


def write_json(paths: dict, name: str, content) -> str:
    path = paths['root'] / 'annotations' / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return f'annotations/{name}'


def test_missing_annotation_file_is_named(shapes: dict):
    with pytest.raises(FileNotFoundError, match=r'annotations/absent\.json does not exist'):
        shapes_dataset(shapes, ann_file='annotations/absent.json')


@pytest.mark.parametrize('content, message', [
    ('', r'zero\.json is empty'),
    ('{"images": [', r'zero\.json is not valid JSON'),
    ('[1, 2]', r'zero\.json holds a JSON list'),
    ({'images': [], 'annotations': [], 'categories': [{'id': 1, 'name': 'circle'}]},
     r'zero\.json has no images'),
    ({'images': [{'id': 1, 'file_name': 'a.jpg', 'width': 9, 'height': 9}], 'annotations': []},
     r'zero\.json declares no categories'),
])
def test_bad_annotation_files_are_named(shapes: dict, content, message: str):
    ann_file = write_json(shapes, 'zero.json', content)
    with pytest.raises(AnnotationFileError, match=message):
        shapes_dataset(shapes, ann_file=ann_file)


def test_zero_byte_annotation_file_is_named(shapes: dict):
    (shapes['root'] / 'annotations' / 'zero.json').write_bytes(b'')
    with pytest.raises(AnnotationFileError, match=r'zero\.json is empty \(0 bytes\)'):
        shapes_dataset(shapes, ann_file='annotations/zero.json')


def test_undeclared_category_id_is_named(shapes: dict):
    coco = json.loads(shapes['train'].read_text())
    coco['annotations'][1]['category_id'] = 4
    coco['annotations'][2]['category_id'] = 0
    ann_file = write_json(shapes, 'labels.json', coco)
    with pytest.raises(AnnotationFileError,
                       match=r'labels\.json: 2 annotations have a category_id \(0, 4\)'):
        shapes_dataset(shapes, ann_file=ann_file)


def test_malformed_bbox_is_named(shapes: dict):
    coco = json.loads(shapes['train'].read_text())
    coco['annotations'][0]['bbox'] = [1, 2, 3]
    ann_file = write_json(shapes, 'bbox.json', coco)
    with pytest.raises(AnnotationFileError, match=r'bbox\.json: 1 annotations lack a bbox'):
        shapes_dataset(shapes, ann_file=ann_file)


def test_classes_must_match_the_categories(shapes: dict):
    with pytest.raises(AnnotationFileError,
                       match=r'metainfo has 2 classes .*train\.json declares 3 categories'):
        shapes_dataset(shapes, metainfo=dict(classes=('circle', 'square')))
    with pytest.raises(AnnotationFileError, match=r'has 80 classes \(person, bicycle'):
        shapes_dataset(shapes, metainfo=None)  # CocoDataset's default: the 80 COCO classes
    with pytest.raises(AnnotationFileError, match=r"'disc' are not categories of .*train\.json"):
        shapes_dataset(shapes, metainfo=dict(classes=('disc', 'square', 'triangle')))
    with pytest.raises(AnnotationFileError, match=r'not in the order .*train\.json'):
        shapes_dataset(shapes, metainfo=dict(classes=('square', 'circle', 'triangle')))
    # ('circle') is a string, not a 1-tuple: len() counts its 6 letters as classes
    with pytest.raises(AnnotationFileError, match=r"the string 'circle'; write a tuple: "
                                                  r"classes=\('circle',\)"):
        shapes_dataset(shapes, metainfo=dict(classes=('circle')))


def test_class_subset_can_be_allowed(shapes: dict):
    dataset = shapes_dataset(shapes, metainfo=dict(classes=('square', 'triangle')),
                             allow_class_subset=True)
    coco = json.loads(shapes['train'].read_text())
    expected = sum(a['category_id'] in (2, 3) for a in coco['annotations'])
    instances = [dataset.get_data_info(i)['instances'] for i in range(len(dataset))]
    assert sum(len(i) for i in instances) == expected > 0
    assert {i['bbox_label'] for per_image in instances for i in per_image} == {0, 1}


# --------------------------------------------------------------------------- data files

def _loader(root, ann, img='img/'):
    return dict(dataset=dict(type='CocoDataset', data_root=root, ann_file=ann,
                             data_prefix=dict(img=img)))


def test_check_data_files_names_the_setting_and_the_path(tmp_path: Path):
    from mmengine.config import Config

    from ghostdet.datasets import check_data_files
    (tmp_path / 'img').mkdir()
    (tmp_path / 'train.json').write_text('{}')
    root = f'{tmp_path}/'
    cfg = Config(dict(train_dataloader=_loader(root, 'train.json'),
                      val_dataloader=_loader(root, 'val.json'),
                      val_evaluator=dict(type='CocoMetric', ann_file=f'{root}val.json'),
                      test_dataloader=_loader(root, 'test.json')))
    check_data_files(cfg, 'my.py', ('train_dataloader',))
    with pytest.raises(FileNotFoundError, match=(
            r'^my\.py: val_dataloader\.dataset\.ann_file \(annotation file\) not found: '
            r'.*/val\.json; put the data there or point the config at it: --cfg-options '
            r'val_dataloader\.dataset\.ann_file=\.\.\. \(or val_dataloader\.dataset\.data_root'
            r'=\.\.\. for all its files\)$')):
        check_data_files(cfg, 'my.py')  # train and val by default; test not checked
    (tmp_path / 'val.json').write_text('{}')
    check_data_files(cfg, 'my.py')
    cfg.val_evaluator = [dict(type='CocoMetric', ann_file=f'{root}val.json'),
                         dict(type='CocoMetric', ann_file=f'{root}other.json')]
    with pytest.raises(FileNotFoundError, match=r'val_evaluator\.ann_file \(annotation file\) '
                                                r'not found: .*/other\.json'):
        check_data_files(cfg, 'my.py')
    cfg.val_evaluator, cfg.val_dataloader = None, None  # a config that does not validate
    check_data_files(cfg, 'my.py')
    cfg.train_dataloader.dataset.data_prefix.img = 'missing/'
    with pytest.raises(FileNotFoundError, match=r'train_dataloader\.dataset\.data_prefix\.img '
                                                r'\(image folder\) not found: .*/missing/'):
        check_data_files(cfg, 'my.py')


def test_check_data_files_walks_wrappers_and_leaves_remote_data_alone(tmp_path: Path):
    from mmengine.config import Config

    from ghostdet.datasets import check_data_files
    (tmp_path / 'img').mkdir()
    (tmp_path / 'a.json').write_text('{}')
    root = f'{tmp_path}/'
    concat = dict(type='ConcatDataset', datasets=[_loader(root, 'a.json')['dataset'],
                                                  _loader(root, 'b.json')['dataset']])
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='RepeatDataset', times=3,
                                                         dataset=concat))))
    with pytest.raises(FileNotFoundError, match=r'train_dataloader\.dataset\.dataset\.datasets'
                                                r'\.1\.ann_file \(annotation file\) not found'):
        check_data_files(cfg, 'my.py', ('train_dataloader',))
    remote = cfg.train_dataloader.dataset.dataset.datasets[1]
    remote.data_root = 's3://bucket/coco/'
    check_data_files(cfg, 'my.py', ('train_dataloader',))
    remote.data_root, remote.backend_args = root, dict(backend='petrel')
    check_data_files(cfg, 'my.py', ('train_dataloader',))
    # data_root '' (paths relative to the working directory): the folder is '.'
    cfg = Config(dict(test_dataloader=_loader('', f'{root}a.json', img='')))
    check_data_files(cfg, 'my.py', ('test_dataloader',))


# --------------------------------------------------------------------------- num_classes

class Head(nn.Module):

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.fc = nn.Linear(2, 2)


def fake_runner(model: nn.Module, classes) -> SimpleNamespace:
    loop = SimpleNamespace(dataloader=SimpleNamespace(
        dataset=SimpleNamespace(metainfo=dict(classes=classes))))
    return SimpleNamespace(model=model, train_loop=loop, val_loop=loop, test_loop=loop)


@pytest.mark.parametrize('stage, dataloader', [('before_train', 'train_dataloader'),
                                               ('before_val', 'val_dataloader'),
                                               ('before_test', 'test_dataloader')])
def test_hook_names_head_and_dataset_settings(stage: str, dataloader: str):
    model = nn.Module()
    model.bbox_head = Head(80)
    hook = HOOKS.build(dict(type='NumClassesCheckHook'))
    with pytest.raises(NumClassesMismatchError,
                       match=rf"model\.bbox_head\.num_classes=80 but {dataloader}\.dataset "
                       r"\(SimpleNamespace\) has 3 classes \(metainfo classes RBC, WBC"):
        getattr(hook, stage)(fake_runner(model, ('RBC', 'WBC', 'Platelets')))
    getattr(hook, stage)(fake_runner(model, tuple(str(i) for i in range(80))))


def test_hook_checks_two_stage_and_cascade_heads():
    model = nn.Module()
    model.rpn_head = Head(1)  # class-agnostic by design: never compared
    model.roi_head = nn.Module()
    model.roi_head.bbox_head = nn.ModuleList([Head(3), Head(4)])
    assert head_num_classes(model) == [('model.roi_head.bbox_head[0].num_classes', 3),
                                       ('model.roi_head.bbox_head[1].num_classes', 4)]
    hook = HOOKS.build(dict(type='NumClassesCheckHook'))
    with pytest.raises(NumClassesMismatchError,
                       match=r'model\.roi_head\.bbox_head\[1\]\.num_classes=4 but'):
        hook.before_train(fake_runner(model, ('a', 'b', 'c')))


@pytest.mark.parametrize('base, setting', [
    ('retinanet/retinanet_r18_fpn_1x_coco.py', 'model.bbox_head.num_classes'),
    ('faster_rcnn/faster-rcnn_r18_fpn_8xb8-amp-lsj-200e_coco.py',
     'model.roi_head.bbox_head.num_classes'),
])
def test_head_num_classes_of_mmdet_detectors(base: str, setting: str):
    cfg = get_config(f'mmdet::{base}')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert head_num_classes(model) == [(setting, 80)]


def test_head_num_classes_unwraps_ddp(tmp_path: Path):
    from mmengine.model import MMDistributedDataParallel
    torch.distributed.init_process_group('gloo', init_method=f'file://{tmp_path}/pg',
                                         rank=0, world_size=1)
    try:
        model = nn.Module()
        model.bbox_head = Head(5)
        wrapped = MMDistributedDataParallel(model)
        assert head_num_classes(wrapped) == [('model.bbox_head.num_classes', 5)]
    finally:
        torch.distributed.destroy_process_group()


def test_a_config_registering_the_hook_is_checked_before_any_runner():
    """What the hook would say after the Runner's config and environment dump, said by
    train.py / test.py before it: each dataset the splits read, through wrappers, whose classes
    the config fixes (a CocoDataset's metainfo, else its METAINFO)."""
    from ghostdet.apis import load_config
    from tests.helpers import REPO
    name = 'quick.py'
    cfg = load_config(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    everything = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    check_config_num_classes(cfg, name, everything)  # as configured: 3 and 3
    cfg.test_dataloader.dataset.metainfo = dict(classes=['a', 'b'])
    check_config_num_classes(cfg, name)  # train and val only, by default
    with pytest.raises(NumClassesMismatchError,
                       match=r'^quick\.py: model\.bbox_head\.num_classes=3 but '
                       r'test_dataloader\.dataset \(CheckedCocoDataset\) has 2 classes '
                       r'\(metainfo classes a, b\); set model\.bbox_head\.num_classes=2'):
        check_config_num_classes(cfg, name, everything)
    val = cfg.val_dataloader.dataset
    cfg.val_dataloader.dataset = dict(type='ConcatDataset', datasets=[
        val, dict(type='RepeatDataset', times=2, dataset=dict(val, type='CocoDataset',
                                                               metainfo=None))])
    with pytest.raises(NumClassesMismatchError,  # COCO's own 80 classes, inside two wrappers
                       match=r'val_dataloader\.dataset\.datasets\.1\.dataset \(CocoDataset\) '
                       r'has 80 classes \(metainfo classes person, bicycle'):
        check_config_num_classes(cfg, name)
    cfg.val_dataloader.dataset.datasets[1].dataset.type = 'XMLDataset'  # sets classes itself
    check_config_num_classes(cfg, name)
    cfg.val_dataloader.dataset.datasets[1].dataset.type = 'NoSuchDataset'  # the Runner's to say
    check_config_num_classes(cfg, name)
    cfg.model.bbox_head.num_classes = 2
    check_config_num_classes(dict(cfg, custom_hooks=[]), name)  # the check is the config's
    with pytest.raises(NumClassesMismatchError, match='train_dataloader'):
        check_config_num_classes(cfg, name)


def test_the_config_check_builds_an_mmdet_config_in_its_scope():
    """mmdet's own configs name DetDataPreprocessor without a scope: the detector is built
    under the config's default_scope, as the Runner builds it."""
    cfg = get_config('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg = None
    cfg.custom_hooks = [dict(type='NumClassesCheckHook')]
    with DefaultScope.overwrite_default_scope('mmengine'):  # another scope current
        check_config_num_classes(cfg, 'r18.py')  # COCO's 80 classes, 80 in the head
        cfg.train_dataloader.dataset.metainfo = dict(classes=SYNTHETIC_CLASSES)
        with pytest.raises(NumClassesMismatchError, match=r'^r18\.py: model\.bbox_head\.'
                           r'num_classes=80 but train_dataloader\.dataset \(CocoDataset\) '
                           r'has 3'):
            check_config_num_classes(cfg, 'r18.py')


def test_hook_stops_a_real_runner_before_training(shapes: dict, tmp_path: Path):
    from mmengine.runner import Runner
    cfg = get_config('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg = None  # num_classes stays COCO's 80
    cfg.train_dataloader.update(batch_size=1, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset = dict(
        type='CheckedCocoDataset', data_root=str(shapes['root']),
        ann_file='annotations/train.json', data_prefix=dict(img='images/'),
        metainfo=dict(classes=SYNTHETIC_CLASSES),
        pipeline=[dict(type='LoadImageFromFileChecked'),
                  dict(type='LoadAnnotations', with_bbox=True), dict(type='PackDetInputs')])
    for part in ('val', 'test'):
        cfg[f'{part}_dataloader'] = cfg[f'{part}_cfg'] = cfg[f'{part}_evaluator'] = None
    cfg.custom_hooks = [dict(type='NumClassesCheckHook')]
    cfg.work_dir = str(tmp_path / 'work_dir')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NumClassesMismatchError,
                       match=r'model\.bbox_head\.num_classes=80 but train_dataloader\.dataset '
                       r'\(CheckedCocoDataset\) has 3 classes'):
        runner.train()


def test_image_folder_looks_through_wrappers_of_one_dataset():
    from ghostdet.datasets.checks import image_folder, is_under
    coco = SimpleNamespace(data_prefix=dict(img='data/x/images/'))
    assert image_folder(coco) == 'data/x/images/'
    assert image_folder(SimpleNamespace(dataset=SimpleNamespace(dataset=coco))) == \
        'data/x/images/'
    assert image_folder(SimpleNamespace(datasets=[coco])) is None  # ConcatDataset
    assert image_folder(SimpleNamespace(data_prefix=dict(img=''))) is None
    assert is_under('data/x/images/cam1/0001.jpg', 'data/x/images/')
    assert not is_under('data/x/images2/0001.jpg', 'data/x/images')
