"""Pascal VOC xml annotations -> COCO json, one file per ``ImageSets/Main`` split.

Coordinates follow mmdet (``XMLDataset`` and ``tools/dataset_converters/pascal_voc.py``): VOC pixel
indices start at 1, so 1 is subtracted from all four and the COCO box is
``[xmin - 1, ymin - 1, xmax - xmin, ymax - ymin]`` with ``area = w * h``.

Boxes that cannot be trained on never stop a conversion; each is reported (file, class, raw box,
reason) in the returned :class:`SplitReport` and in the printed summary:

- degenerate (``xmax <= xmin`` or ``ymax <= ymin``), wholly outside the image, or with a missing or
  non-numeric ``bndbox``: dropped;
- partly outside the image: clipped to it and kept.

``difficult`` objects become ``iscrowd=1`` (mmdet's converter does the same), which CocoDataset
ignores in training and COCO evaluation ignores in matching. An object whose class is not in
``classes`` raises :class:`UnknownClassError` naming the file and class, unless
``skip_unknown=True``, which drops and reports it.
"""
import json
import os.path as osp
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from PIL import Image

PathLike = Union[str, Path]

DEFAULT_SPLITS = ('train', 'val', 'test')


class UnknownClassError(ValueError):
    """An object's class is not in the class list given to the converter."""


@dataclass(frozen=True)
class BoxIssue:
    """A box the converter dropped or changed.

    Args:
        file (str): The xml file, relative to the VOC root (``Annotations/x.xml``).
        class_name (str): The object's ``<name>``.
        bbox (tuple): The raw ``(xmin, ymin, xmax, ymax)`` as written in the xml (strings where
            they do not parse as numbers).
        reason (str): What is wrong: ``degenerate``, ``outside the image``, ``malformed``,
            ``partly outside the image (clipped)`` or ``unknown class``.
    """

    file: str
    class_name: str
    bbox: tuple
    reason: str

    def __str__(self) -> str:
        return f'{self.file}: {self.class_name} {self.bbox} {self.reason}'


@dataclass
class SplitReport:
    """What :func:`convert_voc_to_coco` wrote for one split.

    Args:
        split (str): The ``ImageSets/Main`` split name.
        json_path (Path): The written COCO json.
        num_images (int): Images in the json.
        boxes_per_class (Counter): Boxes written per class name.
        dropped (list[BoxIssue]): Boxes left out (degenerate, outside, malformed).
        clipped (list[BoxIssue]): Boxes clipped to the image and kept.
        skipped_unknown (list[BoxIssue]): Objects of unknown classes left out
            (``skip_unknown=True`` only).
    """

    split: str
    json_path: Path
    num_images: int = 0
    boxes_per_class: Counter = field(default_factory=Counter)
    dropped: List[BoxIssue] = field(default_factory=list)
    clipped: List[BoxIssue] = field(default_factory=list)
    skipped_unknown: List[BoxIssue] = field(default_factory=list)

    @property
    def num_boxes(self) -> int:
        return sum(self.boxes_per_class.values())

    def summary(self) -> str:
        """One line of counts, then one line per dropped, clipped or skipped box."""
        per_class = ', '.join(f'{k} {v}' for k, v in self.boxes_per_class.items())
        lines = [f'{self.split}: {self.num_images} images, {self.num_boxes} boxes ({per_class}); '
                 f'dropped {len(self.dropped)}, clipped {len(self.clipped)}, '
                 f'unknown class skipped {len(self.skipped_unknown)} -> {self.json_path}']
        lines += [f'  {issue}' for issue in self.dropped + self.clipped + self.skipped_unknown]
        return '\n'.join(lines)


def read_class_names(classes_file: PathLike) -> Tuple[str, ...]:
    """Class names from a text file, one per line (blank lines and ``#`` comments ignored).

    Args:
        classes_file (str | Path): The file.

    Returns:
        tuple[str]: The names in file order.
    """
    names = []
    for line in Path(classes_file).read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            names.append(line)
    if not names:
        raise ValueError(f'{classes_file} lists no class names')
    if len(set(names)) != len(names):
        dup = sorted(n for n, c in Counter(names).items() if c > 1)
        raise ValueError(f'{classes_file} lists these class names twice: {dup}')
    return tuple(names)


def read_split_ids(voc_root: PathLike, split: str) -> List[str]:
    """Image ids listed in ``ImageSets/Main/{split}.txt``.

    Args:
        voc_root (str | Path): The VOC root (holding ``Annotations``, ``ImageSets``,
            ``JPEGImages``).
        split (str): The split name.

    Returns:
        list[str]: The ids, in file order.
    """
    split_file = Path(voc_root) / 'ImageSets' / 'Main' / f'{split}.txt'
    if not split_file.is_file():
        raise FileNotFoundError(f'split {split!r}: {split_file} does not exist')
    # a VOC split file may carry a second column (the -1/0/1 of per-class files)
    return [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]


def _parse_xml(xml_path: Path, rel: str) -> ET.Element:
    if not xml_path.is_file():
        raise FileNotFoundError(f'{rel} does not exist (listed in a split file)')
    try:
        return ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise ValueError(f'{rel} is not well-formed xml: {e}') from e


def collect_class_names(voc_root: PathLike, image_ids: Sequence[str]) -> Tuple[str, ...]:
    """All object class names in the given images' xml files, sorted.

    Args:
        voc_root (str | Path): The VOC root.
        image_ids (Sequence[str]): Ids whose ``Annotations/{id}.xml`` are read.

    Returns:
        tuple[str]: The sorted unique names.
    """
    names = set()
    for image_id in image_ids:
        rel = f'Annotations/{image_id}.xml'
        root = _parse_xml(Path(voc_root) / rel, rel)
        names.update((obj.findtext('name') or '').strip() for obj in root.iter('object'))
    names.discard('')
    return tuple(sorted(names))


def _number(value: float) -> Union[int, float]:
    """Integral values as int, so the json reads ``[259, 176, 231, 199]``."""
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _image_file_and_size(voc_root: Path, root: ET.Element, image_id: str,
                         rel: str) -> Tuple[str, int, int]:
    """The image file name (relative to ``JPEGImages``) and ``(width, height)``; the size comes
    from ``<size>`` or, when that is missing or zero, from the image header."""
    image_dir = voc_root / 'JPEGImages'
    candidates = [(root.findtext('filename') or '').strip(), f'{image_id}.jpg']
    candidates = [c for c in candidates if c]
    if image_dir.is_dir():
        found = [c for c in candidates if (image_dir / c).is_file()]
        if not found:
            raise FileNotFoundError(
                f'{rel}: no image for it in {image_dir} (looked for {" and ".join(candidates)})')
        file_name = found[0]
    else:  # an annotation-only copy of the dataset: trust the xml
        file_name = candidates[0]
    try:
        width = int(float(root.findtext('size/width') or 0))
        height = int(float(root.findtext('size/height') or 0))
    except ValueError:
        width = height = 0
    if width <= 0 or height <= 0:
        image_path = image_dir / file_name
        if not image_path.is_file():
            raise ValueError(
                f'{rel} has no valid <size> and {image_path} is absent to read it from')
        with Image.open(image_path) as img:
            width, height = img.size
    return file_name, width, height


def voc_to_coco(voc_root: PathLike,
                image_ids: Sequence[str],
                classes: Sequence[str],
                image_prefix: str = '',
                skip_unknown: bool = False,
                split: str = '') -> Tuple[dict, SplitReport]:
    """Convert the given images' VOC annotations to one COCO dict.

    Args:
        voc_root (str | Path): The VOC root.
        image_ids (Sequence[str]): Image ids (``Annotations/{id}.xml``), in output order; image
            ids in the json are their 1-based positions.
        classes (Sequence[str]): Class names; category ids are their 1-based positions.
        image_prefix (str): Prepended to each ``file_name`` (``file_name`` is otherwise relative
            to ``JPEGImages``). Defaults to ''.
        skip_unknown (bool): Drop and report objects of classes not in ``classes`` instead of
            raising :class:`UnknownClassError`. Defaults to False.
        split (str): Name recorded in the report. Defaults to ''.

    Returns:
        tuple[dict, SplitReport]: The COCO dict and the report (``json_path`` unset).
    """
    voc_root = Path(voc_root)
    classes = tuple(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f'classes has duplicates: {classes}')
    cat_ids = {name: i + 1 for i, name in enumerate(classes)}
    report = SplitReport(split=split, json_path=Path())
    report.boxes_per_class.update({name: 0 for name in classes})
    images, annotations = [], []
    for image_index, image_id in enumerate(image_ids, start=1):
        rel = f'Annotations/{image_id}.xml'
        root = _parse_xml(voc_root / rel, rel)
        file_name, width, height = _image_file_and_size(voc_root, root, image_id, rel)
        images.append(dict(id=image_index, file_name=image_prefix + file_name,
                           width=width, height=height))
        for obj in root.iter('object'):
            name = (obj.findtext('name') or '').strip()
            box = obj.find('bndbox')
            raw = tuple((box.findtext(k) or '').strip() if box is not None else ''
                        for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            if name not in cat_ids:
                if not skip_unknown:
                    raise UnknownClassError(
                        f'{rel}: object class {name!r} is not among the classes {classes}; '
                        'give the full class list, or skip such objects '
                        '(skip_unknown=True, --skip-unknown)')
                report.skipped_unknown.append(BoxIssue(rel, name, raw, 'unknown class'))
                continue
            try:
                xmin, ymin, xmax, ymax = (float(v) for v in raw)
            except ValueError:
                report.dropped.append(BoxIssue(rel, name, raw, 'malformed'))
                continue
            numbers = tuple(_number(v) for v in (xmin, ymin, xmax, ymax))
            if xmax <= xmin or ymax <= ymin:
                report.dropped.append(BoxIssue(rel, name, numbers, 'degenerate'))
                continue
            x1, y1, x2, y2 = xmin - 1, ymin - 1, xmax - 1, ymax - 1
            if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
                report.dropped.append(BoxIssue(rel, name, numbers, 'outside the image'))
                continue
            if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
                report.clipped.append(
                    BoxIssue(rel, name, numbers, 'partly outside the image (clipped)'))
                x1, y1 = max(x1, 0.0), max(y1, 0.0)
                x2, y2 = min(x2, float(width)), min(y2, float(height))
            difficult = (obj.findtext('difficult') or '0').strip() == '1'
            w, h = x2 - x1, y2 - y1
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_index, category_id=cat_ids[name],
                bbox=[_number(v) for v in (x1, y1, w, h)], area=_number(w * h),
                iscrowd=int(difficult)))
            report.boxes_per_class[name] += 1
    report.num_images = len(images)
    coco = dict(
        info=dict(description=f'Pascal VOC {voc_root.name} {split}'.rstrip(),
                  image_root='JPEGImages', file_name_prefix=image_prefix,
                  converter='ghostdet.datasets.voc2coco'),
        images=images,
        annotations=annotations,
        categories=[dict(id=i, name=name, supercategory='none')
                    for name, i in cat_ids.items()])
    return coco, report


def convert_voc_to_coco(voc_root: PathLike,
                        out_dir: PathLike,
                        classes: Optional[Sequence[str]] = None,
                        splits: Sequence[str] = DEFAULT_SPLITS,
                        image_prefix: str = '',
                        skip_unknown: bool = False,
                        verbose: bool = True) -> Dict[str, SplitReport]:
    """Write ``out_dir/{split}.json`` for each split of a Pascal VOC dataset.

    Args:
        voc_root (str | Path): The VOC root (``Annotations/``, ``ImageSets/Main/``,
            ``JPEGImages/``).
        out_dir (str | Path): Where the json files go (created if needed).
        classes (Sequence[str], optional): Class names, in category-id order (ids 1..N). None
            collects every name found in the splits' xml files, sorted. Defaults to None.
        splits (Sequence[str]): ``ImageSets/Main/{split}.txt`` files to convert.
            Defaults to ``('train', 'val', 'test')``.
        image_prefix (str): Prepended to each ``file_name``; with the default '' the names are
            relative to ``voc_root/JPEGImages`` (so a config sets
            ``data_prefix=dict(img='JPEGImages/')`` under ``data_root=voc_root``).
            Defaults to ''.
        skip_unknown (bool): Drop and report objects of classes not in ``classes`` instead of
            raising :class:`UnknownClassError`. Defaults to False.
        verbose (bool): Print each split's summary. Defaults to True.

    Returns:
        dict[str, SplitReport]: Per split: the json path, counts and every dropped, clipped or
        skipped box with its file.

    Example:
        >>> reports = convert_voc_to_coco('data/BCCD', 'data/bccd_coco',
        ...                               classes=('RBC', 'WBC', 'Platelets'))  # doctest: +SKIP
        >>> sum(len(r.dropped) for r in reports.values())  # doctest: +SKIP
        2
    """
    voc_root, out_dir = Path(voc_root), Path(out_dir)
    if not (voc_root / 'Annotations').is_dir():
        raise FileNotFoundError(f'{voc_root} is not a VOC root: it has no Annotations/ folder')
    ids_per_split = {split: read_split_ids(voc_root, split) for split in splits}
    if classes is None:
        classes = collect_class_names(voc_root, sorted({i for ids in ids_per_split.values()
                                                        for i in ids}))
        if verbose:
            print(f'classes (found in the xml files, sorted): {classes}')
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = {}
    for split, ids in ids_per_split.items():
        coco, report = voc_to_coco(voc_root, ids, classes, image_prefix=image_prefix,
                                   skip_unknown=skip_unknown, split=split)
        report.json_path = out_dir / f'{split}.json'
        with open(report.json_path, 'w') as f:
            json.dump(coco, f)
        reports[split] = report
        if verbose:
            print(report.summary())
    if verbose:
        image_root = osp.join(str(voc_root), 'JPEGImages')
        print(f'file_name is relative to {image_root}' +
              (f' (with prefix {image_prefix!r})' if image_prefix else ''))
    return reports
