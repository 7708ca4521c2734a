"""Early, clear errors for bad data: each names the file or the config setting at fault.

Registered into mmdet's registries (``import ghostdet`` registers them):

- ``LoadImageFromFileChecked`` (``TRANSFORMS``): mmcv's ``LoadImageFromFile`` that names the file
  of a missing, empty, corrupt or truncated image; ``skip_unreadable=True`` warns and returns
  None instead, so that a training dataset draws another sample.
- ``CheckedCocoDataset`` (``DATASETS``): mmdet's ``CocoDataset`` that names the annotation file
  when it is missing, empty, not JSON, has no images or categories, uses undeclared
  ``category_id`` values, or declares categories that do not match ``metainfo['classes']``.
- ``NumClassesCheckHook`` (``HOOKS``): before train / val / test, compares the detector head's
  ``num_classes`` with the dataset's classes and names both settings.

:func:`check_data_files` (called by ``tools/train.py``, ``tools/test.py`` and the study) names
a config's missing annotation file or image folder before anything is built.
"""
import copy
import io
import json
import os.path as osp
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch.nn as nn
from mmcv.transforms import LoadImageFromFile
from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS, HOOKS, TRANSFORMS
from mmengine import fileio
from mmengine.hooks import Hook
from PIL import Image, ImageFile

from ..models.utils import inner_model
from ..utils.text import preview


class UnreadableImageError(OSError):
    """An image file exists but is empty, corrupt or truncated."""


class AnnotationFileError(ValueError):
    """An annotation file is empty, malformed or inconsistent with the dataset's classes."""


class NumClassesMismatchError(ValueError):
    """The detector head's ``num_classes`` differs from the dataset's number of classes."""


class UnreadableImageWarning(UserWarning):
    """An unreadable image was skipped (``LoadImageFromFileChecked(skip_unreadable=True)``)."""




# ---------------------------------------------------------------------------------------------
# images

_JPEG_START, _JPEG_END = b'\xff\xd8\xff', b'\xff\xd9'
_PNG_START, _PNG_END = b'\x89PNG\r\n\x1a\n', b'IEND\xaeB`\x82'


@contextmanager
def _strict_pil() -> Iterator[None]:
    """PIL raises on truncated data only while ``ImageFile.LOAD_TRUNCATED_IMAGES`` is False."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def find_truncation(img_bytes: bytes) -> Optional[str]:
    """Why a JPEG or PNG is truncated, or None when it is complete (or of another format).

    cv2 decodes a truncated JPEG with a warning on stderr and grey rows at the bottom, so a
    decoder's success says nothing. A file that ends with its format's end marker is complete;
    otherwise (data may follow the marker) PIL decodes it strictly to decide.

    Args:
        img_bytes (bytes): The file's content.

    Returns:
        str | None: The reason, e.g. ``'truncated JPEG (image file is truncated ...)'``.
    """
    if img_bytes.startswith(_JPEG_START):
        kind, end = 'JPEG', _JPEG_END
    elif img_bytes.startswith(_PNG_START):
        kind, end = 'PNG', _PNG_END
    else:
        return None
    if img_bytes[-64:].rstrip(b'\x00\r\n\t ').endswith(end):
        return None
    try:
        with _strict_pil(), Image.open(io.BytesIO(img_bytes)) as img:
            img.load()
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError ... on bad data
        return f'truncated {kind} ({e})'
    return None


def load_image_checked(filename: str,
                       color_type: str = 'color',
                       imdecode_backend: str = 'cv2',
                       backend_args: Optional[dict] = None) -> np.ndarray:
    """Read and decode an image, raising an error that names the file when it cannot.

    Args:
        filename (str): Path or URI of the image.
        color_type (str): ``flag`` of :func:`mmcv.imfrombytes`. Defaults to 'color'.
        imdecode_backend (str): ``backend`` of :func:`mmcv.imfrombytes`. Defaults to 'cv2'.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.

    Returns:
        np.ndarray: The decoded image.

    Raises:
        FileNotFoundError: The file does not exist.
        UnreadableImageError: It is empty, corrupt (cannot be decoded) or truncated.
    """
    try:
        img_bytes = fileio.get(filename, backend_args=backend_args)
    except FileNotFoundError as e:
        raise FileNotFoundError(f'image file {filename} does not exist') from e
    if len(img_bytes) == 0:
        raise UnreadableImageError(f'image file {filename} is empty (0 bytes)')
    truncation = find_truncation(img_bytes)
    if truncation:
        raise UnreadableImageError(f'image file {filename} is a {truncation}')
    try:
        img = mmcv.imfrombytes(img_bytes, flag=color_type, backend=imdecode_backend)
    except Exception as e:
        raise UnreadableImageError(
            f'image file {filename} is corrupt: {imdecode_backend} cannot decode it ({e})') from e
    if img is None:
        raise UnreadableImageError(
            f'image file {filename} is corrupt: {imdecode_backend} cannot decode it '
            f'({len(img_bytes)} bytes starting {img_bytes[:8]!r})')
    return img


@TRANSFORMS.register_module()
class LoadImageFromFileChecked(LoadImageFromFile):
    """``LoadImageFromFile`` whose errors name the missing, corrupt or truncated file.

    A drop-in for ``dict(type='LoadImageFromFile')`` in a pipeline. Truncated JPEG and PNG files,
    which cv2 would decode with a grey bottom and only a warning on stderr, are errors too.

    Args:
        skip_unreadable (bool): Warn (naming the file, :class:`UnreadableImageWarning`) and
            return None instead of raising; a training dataset (mmengine ``BaseDataset``) then
            draws another sample. A test-mode dataset raises on None, so this does not help in
            val or test. Defaults to False.
        **kwargs: The arguments of mmcv's ``LoadImageFromFile`` (``to_float32``, ``color_type``,
            ``imdecode_backend``, ``backend_args``, ...). Its ``ignore_empty=True`` acts like
            ``skip_unreadable=True``.
    """

    def __init__(self, skip_unreadable: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_unreadable = skip_unreadable

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` into ``img``, ``img_shape`` and ``ori_shape``.

        Args:
            results (dict): Needs ``img_path``.

        Returns:
            dict | None: The results, or None for an unreadable file when skipping.
        """
        filename = results['img_path']
        backend_args = self.backend_args
        if self.file_client_args is not None:  # deprecated, but honoured like the parent
            backend_args = self.file_client_args
        try:
            img = load_image_checked(filename, self.color_type, self.imdecode_backend,
                                     backend_args)
        except (FileNotFoundError, UnreadableImageError) as e:
            if not (self.skip_unreadable or self.ignore_empty):
                raise
            warnings.warn(f'skipped: {e}', UnreadableImageWarning)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', skip_unreadable={self.skip_unreadable})'


# ---------------------------------------------------------------------------------------------
# annotation files

def read_coco_json(ann_file: str, backend_args: Optional[dict] = None) -> dict:
    """Read a COCO annotation file, raising errors that name it for every structural fault.

    Checked: the file exists, is not empty, is JSON, is an object with a non-empty ``images``
    list and a non-empty ``categories`` list, every annotation has a 4-number ``bbox`` and a
    ``category_id`` that ``categories`` declares.

    Args:
        ann_file (str): Path or URI of the json.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.

    Returns:
        dict: The parsed json.
    """
    if not fileio.exists(ann_file, backend_args=backend_args):
        raise FileNotFoundError(f'annotation file {ann_file} does not exist')
    content = fileio.get(ann_file, backend_args=backend_args)
    if len(content.strip()) == 0:
        raise AnnotationFileError(f'annotation file {ann_file} is empty ({len(content)} bytes)')
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnnotationFileError(f'annotation file {ann_file} is not valid JSON: {e}') from e
    if not isinstance(data, dict):
        raise AnnotationFileError(
            f'annotation file {ann_file} holds a JSON {type(data).__name__}, not a COCO object '
            "with 'images', 'annotations' and 'categories'")
    if not isinstance(data.get('images'), list) or not data['images']:
        raise AnnotationFileError(f"annotation file {ann_file} has no images ('images' is "
                                  f"{'missing' if 'images' not in data else 'empty'})")
    categories = data.get('categories')
    if not isinstance(categories, list) or not categories:
        raise AnnotationFileError(f"annotation file {ann_file} declares no categories")
    declared = {cat.get('id') for cat in categories if isinstance(cat, dict)}
    undeclared: List[Tuple[object, object, object]] = []
    bad_boxes: List[Tuple[object, object]] = []
    for ann in data.get('annotations') or []:
        if ann.get('category_id') not in declared:
            undeclared.append((ann.get('id'), ann.get('image_id'), ann.get('category_id')))
        bbox = ann.get('bbox')
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(isinstance(v, (int, float)) for v in bbox)):
            bad_boxes.append((ann.get('id'), bbox))
    if undeclared:
        ids = sorted({c for _, _, c in undeclared}, key=str)
        raise AnnotationFileError(
            f'annotation file {ann_file}: {len(undeclared)} annotations have a category_id '
            f'({preview(ids)}) that its categories do not declare (declared ids: '
            f'{sorted(declared, key=str)}); e.g. (annotation id, image id, category_id): '
            f'{preview(undeclared, 3)}')
    if bad_boxes:
        raise AnnotationFileError(
            f'annotation file {ann_file}: {len(bad_boxes)} annotations lack a bbox of 4 numbers '
            f'[x, y, w, h]; e.g. (annotation id, bbox): {preview(bad_boxes, 3)}')
    return data


def check_classes_match(categories: Sequence[dict], classes: Sequence[str], ann_file: str,
                        allow_subset: bool = False) -> None:
    """Check that ``metainfo['classes']`` names the json's categories, all and in order.

    mmdet's ``CocoDataset`` keeps the categories whose names are in ``classes`` and numbers
    them in the json's order: a name missing from the json silently has no boxes, and a
    different order shows predictions under the wrong names.

    Args:
        categories (Sequence[dict]): The json's ``categories``.
        classes (Sequence[str]): The dataset's ``metainfo['classes']``.
        ann_file (str): Named in the errors.
        allow_subset (bool): Accept ``classes`` naming only some categories (the others'
            boxes are left out). Defaults to False.
    """
    if isinstance(classes, str):
        raise AnnotationFileError(
            f"metainfo classes is the string {classes!r}; write a tuple: classes=({classes!r},)")
    names = [cat.get('name') for cat in categories if isinstance(cat, dict)]
    fix = f'set metainfo=dict(classes={tuple(names)!r})'
    if len(classes) != len(names) and not allow_subset:
        raise AnnotationFileError(
            f'the dataset metainfo has {len(classes)} classes ({preview(list(classes))}) but '
            f'annotation file {ann_file} declares {len(names)} categories '
            f'({preview(names)}); {fix}')
    missing = [c for c in classes if c not in names]
    if missing:
        raise AnnotationFileError(
            f'metainfo classes {preview([repr(c) for c in missing])} are not categories of '
            f'annotation file {ann_file} (it declares {preview(names)}); {fix}')
    in_json_order = [n for n in names if n in classes]
    if list(classes) != in_json_order:
        raise AnnotationFileError(
            f'metainfo classes {tuple(classes)} are not in the order of the categories of '
            f'annotation file {ann_file} {tuple(in_json_order)}; CocoDataset numbers labels in '
            'the json order, so predictions would carry the wrong names; '
            f'set metainfo=dict(classes={tuple(in_json_order)!r})')


def coco_from_dict(data: dict) -> COCO:
    """An mmdet ``COCO`` API object over already parsed json (no second read of the file)."""
    coco = COCO()
    coco.dataset = data
    coco.createIndex()
    # mmdet's wrapper aliases these in __init__, before the index exists
    coco.img_ann_map = coco.imgToAnns
    coco.cat_img_map = coco.catToImgs
    return coco


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """``CocoDataset`` that names the annotation file in an error for each of: missing, empty,
    not JSON, no images, no categories, an undeclared ``category_id``, a malformed ``bbox``, and
    categories that differ from ``metainfo['classes']`` in number, names or order.

    Args:
        allow_class_subset (bool): Accept ``metainfo['classes']`` naming only some of the json's
            categories (mmdet leaves the others' boxes out). Defaults to False.
        **kwargs: The arguments of mmdet's ``CocoDataset``.
    """

    def __init__(self, *args, allow_class_subset: bool = False, **kwargs) -> None:
        # set before super().__init__, which loads the annotations
        self.allow_class_subset = allow_class_subset
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Check the annotation file, then parse it as ``CocoDataset`` does.

        Returns:
            list[dict]: The data infos.
        """
        data = read_coco_json(self.ann_file, backend_args=self.backend_args)
        check_classes_match(data['categories'], self.metainfo['classes'], self.ann_file,
                            allow_subset=self.allow_class_subset)
        coco = coco_from_dict(data)
        # CocoDataset.load_data_list builds ``self.coco = self.COCOAPI(path)``: hand it the
        # checked object instead of parsing the file a second time
        self.COCOAPI = lambda _path: coco
        try:
            return super().load_data_list()
        finally:
            del self.COCOAPI


def _leaf_datasets(dataset: Any, key: str) -> Iterator[Tuple[str, Any]]:
    """``(setting, dataset cfg)`` of each dataset a dataloader reads, through wrappers
    (``RepeatDataset``, ``ClassBalancedDataset``: ``dataset``; ``ConcatDataset``:
    ``datasets``)."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('datasets'), (list, tuple)):
        for i, child in enumerate(dataset['datasets']):
            yield from _leaf_datasets(child, f'{key}.datasets.{i}')
    elif isinstance(dataset.get('dataset'), dict):
        yield from _leaf_datasets(dataset['dataset'], f'{key}.dataset')
    else:
        yield key, dataset


def _evaluator_ann_files(evaluator: Any) -> List[str]:
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    return [m['ann_file'] for m in metrics if isinstance(m, dict) and m.get('ann_file')]


def image_folder(dataset: Any) -> Optional[str]:
    """The folder a built dataset's image paths start with (``data_root`` joined to
    ``data_prefix.img``, as mmengine's ``BaseDataset`` joins them), through wrappers of one
    dataset (``RepeatDataset``, ``ClassBalancedDataset``); None for datasets without one and
    for a ``ConcatDataset``."""
    while not hasattr(dataset, 'data_prefix') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    prefix = getattr(dataset, 'data_prefix', None)
    folder = prefix.get('img') if isinstance(prefix, dict) else None
    return folder if isinstance(folder, str) and folder else None


def is_under(path: str, folder: str) -> bool:
    """Whether ``path`` lies in ``folder`` (or below it)."""
    path, folder = osp.abspath(path), osp.abspath(folder)
    return osp.commonpath([path, folder]) == folder


def image_name(path: str, folder: Optional[str]) -> str:
    """An image's name for its picture: its path under ``folder`` (:func:`image_folder`:
    ``cam1/0001.jpg``), or its file name where it lies elsewhere or there is no folder."""
    return osp.relpath(path, folder) if folder and is_under(path, folder) else \
        osp.basename(path)


def check_data_files(cfg: Any, config: str,
                     splits: Sequence[str] = ('train_dataloader', 'val_dataloader'),
                     evaluators: bool = True) -> None:
    """Name, before any model or dataset is built, the first annotation file or image folder
    that the dataloaders ``splits`` (and their evaluators' ``ann_file``) point at and that is
    not there: a COCO not at ``data/coco/`` otherwise fails after the config and hook dumps,
    and a missing validation image folder only after the first training epoch.

    Local paths only: a dataset with ``backend_args`` or a URI ``data_root`` is left to its
    loader. A dataloader the config lacks (``val_dataloader=None``) is skipped.

    Args:
        cfg (Config): The full config.
        config (str): Named in the error.
        splits (Sequence[str]): Dataloader settings to check.
        evaluators (bool): Check the splits' evaluators' ``ann_file`` too (not where only the
            data is read). Defaults to True.

    Raises:
        FileNotFoundError: ``<config>: <setting> (<kind>) not found: <path>; ...`` with
            the ``--cfg-options`` that points it elsewhere.
    """
    for split in splits:
        loader = cfg.get(split)
        if not loader:
            continue
        checks = []  # (setting, path, kind, the data_root setting that moves it or None)
        for key, dataset in _leaf_datasets(loader.get('dataset'), f'{split}.dataset'):
            root = dataset.get('data_root') or ''
            if dataset.get('backend_args') or '://' in root:
                continue
            root_key = f'{key}.data_root' if root else None
            if dataset.get('ann_file'):
                checks.append((f'{key}.ann_file', osp.join(root, dataset['ann_file']),
                               'annotation file', root_key))
            prefix = dataset.get('data_prefix') or {}
            if isinstance(prefix, dict) and isinstance(prefix.get('img'), str):
                checks.append((f'{key}.data_prefix.img', osp.join(root, prefix['img']) or '.',
                               'image folder', root_key))
        evaluator = split.replace('_dataloader', '_evaluator')
        for ann_file in _evaluator_ann_files(cfg.get(evaluator)) if evaluators else ():
            if '://' not in ann_file:
                checks.append((f'{evaluator}.ann_file', ann_file, 'annotation file', None))
        for setting, path, kind, root_key in checks:
            exists = osp.isfile if kind == 'annotation file' else osp.isdir
            if not exists(path):
                where = f'--cfg-options {setting}=...' + (
                    f' (or {root_key}=... for all its files)' if root_key else '')
                raise FileNotFoundError(
                    f'{config}: {setting} ({kind}) not found: {path}; put the data there or '
                    f'point the config at it: {where}')


# ---------------------------------------------------------------------------------------------
# model vs dataset

def head_num_classes(model: nn.Module) -> List[Tuple[str, int]]:
    """The class counts of a detector's heads, with the config setting that holds each.

    ``rpn_head`` (class-agnostic by design) is left out.

    Args:
        model (nn.Module): A detector, or a model wrapper (DDP, test-time augmentation) around
            one.

    Returns:
        list[tuple[str, int]]: e.g. ``[('model.roi_head.bbox_head.num_classes', 3)]``.
    """
    model = inner_model(model)
    found = []
    for head_path in ('bbox_head', 'roi_head.bbox_head', 'roi_head.mask_head'):
        module = model
        for attr in head_path.split('.'):
            module = getattr(module, attr, None)
        if module is None:
            continue
        # cascade detectors hold one bbox head per stage in a ModuleList
        heads = (list(enumerate(module)) if isinstance(module, (nn.ModuleList, list))
                 else [(None, module)])
        for index, head in heads:
            if hasattr(head, 'num_classes'):
                where = f'model.{head_path}' + (f'[{index}]' if index is not None else '')
                found.append((f'{where}.num_classes', int(head.num_classes)))
    return found


def check_num_classes(model: nn.Module, classes: Optional[Sequence[str]],
                      dataset_setting: str) -> None:
    """Raise :class:`NumClassesMismatchError` when a head's ``num_classes`` is not
    ``len(classes)``.

    Args:
        model (nn.Module): The detector (or a wrapper around it).
        classes (Sequence[str], optional): ``dataset.metainfo['classes']``; None skips.
        dataset_setting (str): Names the dataset in the message, e.g.
            ``'train_dataloader.dataset'``.
    """
    if classes is None:
        return
    for setting, num_classes in head_num_classes(model):
        if num_classes != len(classes):
            raise NumClassesMismatchError(
                f'{setting}={num_classes} but {dataset_setting} has {len(classes)} classes '
                f"(metainfo classes {preview(list(classes))}); set {setting}={len(classes)} "
                f"or the dataset's metainfo=dict(classes=...)")


def _config_classes(dataset: Any) -> Optional[Sequence[str]]:
    """The classes a dataset config will have: its ``metainfo['classes']``, else its type's
    ``METAINFO``; None where that is not known before the dataset is built (a type that is not
    a ``CocoDataset`` may set them from its files; a type the registry does not know)."""
    kind = dataset.get('type')
    cls = DATASETS.get(kind) if isinstance(kind, str) else kind
    if not (isinstance(cls, type) and issubclass(cls, CocoDataset)):
        return None
    classes = (dataset.get('metainfo') or {}).get('classes', cls.METAINFO.get('classes'))
    return None if isinstance(classes, str) else classes  # a string: the dataset names it


def check_config_num_classes(cfg: Any, config: str,
                             splits: Sequence[str] = ('train_dataloader',
                                                      'val_dataloader')) -> None:
    """What :class:`NumClassesCheckHook` checks, before any Runner exists, for a config that
    registers that hook: the detector (built from ``cfg.model``, no weights loaded) against the
    classes of each dataset the dataloaders ``splits`` read. ``tools/train.py`` and
    ``tools/test.py`` call it with their other input checks, so the mismatch is one ``error:``
    line instead of a traceback after the config and environment dump.

    Raises:
        NumClassesMismatchError: With ``config``, both settings and the fix.
    """
    kinds = [h.get('type') for h in cfg.get('custom_hooks') or [] if isinstance(h, dict)]
    if NumClassesCheckHook not in [HOOKS.get(k) if isinstance(k, str) else k for k in kinds]:
        return
    datasets = [(key, dataset, classes) for split in splits if cfg.get(split)
                for key, dataset in _leaf_datasets(cfg[split].get('dataset'), f'{split}.dataset')
                for classes in [_config_classes(dataset)] if classes is not None]
    if not datasets:
        return
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(copy.deepcopy(cfg.model))
    for key, dataset, classes in datasets:
        kind = dataset.get('type')
        try:
            check_num_classes(model, classes,
                              f'{key} ({kind if isinstance(kind, str) else kind.__name__})')
        except NumClassesMismatchError as err:
            raise NumClassesMismatchError(f'{config}: {err}') from None


@HOOKS.register_module()
class NumClassesCheckHook(Hook):
    """Stop before training, validation or testing when the detector head's ``num_classes``
    differs from the number of classes of that loop's dataset; the error names both settings.

    Use: ``custom_hooks = [dict(type='NumClassesCheckHook')]``.
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _check(runner, loop_name: str, dataloader_setting: str) -> None:
        loop = getattr(runner, loop_name)
        dataset = loop.dataloader.dataset
        check_num_classes(runner.model, dataset.metainfo.get('classes'),
                          f'{dataloader_setting}.dataset ({type(dataset).__name__})')

    def before_train(self, runner) -> None:
        """Check the model against ``train_dataloader.dataset``."""
        self._check(runner, 'train_loop', 'train_dataloader')

    def before_val(self, runner) -> None:
        """Check the model against ``val_dataloader.dataset``."""
        self._check(runner, 'val_loop', 'val_dataloader')

    def before_test(self, runner) -> None:
        """Check the model against ``test_dataloader.dataset``."""
        self._check(runner, 'test_loop', 'test_dataloader')
