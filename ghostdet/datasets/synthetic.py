"""A small, seeded shapes detection dataset in COCO format: nothing to download.

Each image (320x256 by default) has a smooth, striped and noisy background and 2 to 5 filled
shapes of random colour: circles, squares (tilted up to 20 degrees) and triangles (any rotation),
28 to 80 pixels across. Shapes may overlap, but every shape keeps at least 75 % of its pixels
visible. Boxes are the tight pixel extent of the whole shape, ``[x, y, w, h]`` with
``area = w * h``; category ids are 1 (circle), 2 (square), 3 (triangle).

Image ``k`` of a split is drawn from its own generator seeded with ``(seed, split, k)``, so a split
does not change when another split's size does, and the same arguments give byte-identical
annotation files.
"""
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import cv2
import numpy as np

PathLike = Union[str, Path]

SYNTHETIC_CLASSES = ('circle', 'square', 'triangle')
SPLITS = ('train', 'val', 'test')
# bump when the drawing changes, so that make_synthetic_coco regenerates old folders
GENERATOR_VERSION = 1
MANIFEST = 'manifest.json'

MIN_SIZE, MAX_SIZE = 28, 80  # shape extent in pixels
MIN_VISIBLE = 0.75  # fraction of an earlier shape's pixels that later shapes may not cover
JPEG_QUALITY = 92


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A base colour + low-frequency blotches + a sinusoidal stripe texture (float32 HxWx3)."""
    base = rng.uniform(50, 205, size=3)
    coarse = rng.normal(0, 25, size=(height // 32 + 2, width // 32 + 2, 3)).astype(np.float32)
    blotches = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 24)
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period)
    stripes = rng.uniform(4, 14) * np.sin(phase)[..., None] * rng.uniform(0.5, 1, size=3)
    return (base + blotches + stripes).astype(np.float32)


def _shape_mask(rng: np.random.Generator, label: int, width: int, height: int) -> np.ndarray:
    """One filled shape of class ``label`` at a random place, fully inside the image."""
    size = rng.uniform(MIN_SIZE, MAX_SIZE)
    half = size / 2
    cx = rng.uniform(half + 1, width - half - 1)
    cy = rng.uniform(half + 1, height - half - 1)
    mask = np.zeros((height, width), np.uint8)
    if label == 0:  # circle
        cv2.circle(mask, (round(cx), round(cy)), round(half), 255, -1)
        return mask
    if label == 1:  # square, tilted so that its extent stays ``size``
        tilt = np.deg2rad(rng.uniform(-20, 20))
        side = size / (abs(np.cos(tilt)) + abs(np.sin(tilt)))
        angles = tilt + np.pi / 4 + np.arange(4) * np.pi / 2
        radius = side / np.sqrt(2)
    else:  # triangle, equilateral, any rotation
        angles = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
        radius = half
    corners = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
    cv2.fillPoly(mask, [np.round(corners).astype(np.int32)], 255)
    return mask


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random colour at least 120 (sum over BGR) away from ``background``."""
    colour = rng.uniform(0, 255, size=3)
    for _ in range(20):
        if np.abs(colour - background).sum() >= 120:
            break
        colour = rng.uniform(0, 255, size=3)
    return colour


def render_image(rng: np.random.Generator,
                 width: int = 320,
                 height: int = 256) -> Tuple[np.ndarray, List[Tuple[int, List[int]]]]:
    """Draw one image and its boxes.

    Args:
        rng (np.random.Generator): The only source of randomness.
        width (int): Image width. Defaults to 320.
        height (int): Image height. Defaults to 256.

    Returns:
        tuple: The BGR uint8 image and a list of ``(label, [x, y, w, h])`` with ``label`` 0-based
        in :data:`SYNTHETIC_CLASSES` order.
    """
    if min(width, height) < MAX_SIZE + 4:
        raise ValueError(f'image_size ({width}, {height}) is too small for {MAX_SIZE}-pixel shapes')
    img = _background(rng, width, height)
    owner = np.full((height, width), -1, np.int32)  # which shape each pixel shows
    areas: List[int] = []
    objects: List[Tuple[int, List[int]]] = []
    for _ in range(int(rng.integers(2, 6))):
        label = int(rng.integers(len(SYNTHETIC_CLASSES)))
        for _attempt in range(30):
            mask = _shape_mask(rng, label, width, height) > 0
            covered = np.bincount(owner[mask] + 1, minlength=len(areas) + 1)[1:]
            still_visible = (np.bincount(owner.ravel() + 1, minlength=len(areas) + 1)[1:]
                             - covered)
            if all(v >= MIN_VISIBLE * a for v, a in zip(still_visible, areas)):
                break
        else:
            continue  # no room left for this shape
        owner[mask] = len(areas)
        areas.append(int(mask.sum()))
        img[mask] = _contrasting_colour(rng, img[mask].mean(axis=0))
        ys, xs = np.nonzero(mask)
        x, y = int(xs.min()), int(ys.min())
        objects.append((label, [x, y, int(xs.max()) - x + 1, int(ys.max()) - y + 1]))
    img += rng.normal(0, rng.uniform(3, 10), size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), objects


def _params(num_train: int, num_val: int, num_test: int, seed: int,
            image_size: Tuple[int, int]) -> dict:
    return dict(generator='ghostdet.datasets.synthetic', version=GENERATOR_VERSION,
                num_images=dict(train=num_train, val=num_val, test=num_test), seed=seed,
                image_size=list(image_size))


def _paths(out_dir: Path) -> Dict[str, Path]:
    paths = dict(root=out_dir, img_dir=out_dir / 'images', manifest=out_dir / MANIFEST)
    paths.update({split: out_dir / 'annotations' / f'{split}.json' for split in SPLITS})
    return paths


def _is_complete(paths: Dict[str, Path], params: dict) -> bool:
    """The manifest states the same parameters and every json and image it implies exists."""
    try:
        if json.loads(paths['manifest'].read_text()) != params:
            return False
        for split in SPLITS:
            images = json.loads(paths[split].read_text())['images']
            if len(images) != params['num_images'][split] or not all(
                    (paths['img_dir'] / img['file_name']).is_file() for img in images):
                return False
    except (OSError, ValueError, KeyError):
        return False
    return True


def make_synthetic_coco(out_dir: PathLike,
                        num_train: int = 240,
                        num_val: int = 40,
                        num_test: int = 40,
                        seed: int = 0,
                        image_size: Tuple[int, int] = (320, 256),
                        force: bool = False,
                        verbose: bool = True) -> Dict[str, Path]:
    """Write the shapes dataset as ``images/*.jpg`` + ``annotations/{train,val,test}.json``.

    A folder that already holds a complete dataset made with the same arguments (its
    ``manifest.json`` says so, and every file is there) is left as it is.

    Args:
        out_dir (str | Path): Output folder (created if needed).
        num_train (int): Training images. Defaults to 240.
        num_val (int): Validation images. Defaults to 40.
        num_test (int): Test images. Defaults to 40.
        seed (int): Seed of everything drawn. Defaults to 0.
        image_size (tuple[int, int]): ``(width, height)``. Defaults to (320, 256).
        force (bool): Regenerate even when the folder is complete. Defaults to False.
        verbose (bool): Print what is done. Defaults to True.

    Returns:
        dict[str, Path]: ``root``, ``img_dir`` (``file_name`` is relative to it), ``manifest``
        and the ``train``, ``val``, ``test`` annotation files. A config reads it with
        ``data_root=root, data_prefix=dict(img='images/'), ann_file='annotations/train.json',
        metainfo=dict(classes=SYNTHETIC_CLASSES)``.

    Example:
        >>> paths = make_synthetic_coco('data/shapes', verbose=False)  # doctest: +SKIP
        >>> sorted(paths)  # doctest: +SKIP
        ['img_dir', 'manifest', 'root', 'test', 'train', 'val']
    """
    counts = dict(train=num_train, val=num_val, test=num_test)
    if any(n < 0 for n in counts.values()):
        raise ValueError(f'image counts must be >= 0, got {counts}')
    width, height = (int(v) for v in image_size)
    paths = _paths(Path(out_dir))
    params = _params(num_train, num_val, num_test, seed, (width, height))
    if not force and _is_complete(paths, params):
        if verbose:
            print(f'synthetic shapes dataset already complete in {paths["root"]}')
        return paths

    paths['img_dir'].mkdir(parents=True, exist_ok=True)
    paths['train'].parent.mkdir(parents=True, exist_ok=True)
    paths['manifest'].unlink(missing_ok=True)  # written last: marks a finished dataset
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(SYNTHETIC_CLASSES)]
    for split_index, split in enumerate(SPLITS):
        images, annotations = [], []
        for k in range(counts[split]):
            rng = np.random.default_rng([seed, split_index, k])
            img, objects = render_image(rng, width, height)
            file_name = f'{split}_{k:05d}.jpg'
            ok, encoded = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError(f'cv2 could not encode {file_name}')
            (paths['img_dir'] / file_name).write_bytes(encoded.tobytes())
            images.append(dict(id=k + 1, file_name=file_name, width=width, height=height))
            for label, bbox in objects:
                annotations.append(dict(id=len(annotations) + 1, image_id=k + 1,
                                        category_id=label + 1, bbox=bbox,
                                        area=bbox[2] * bbox[3], iscrowd=0))
        coco = dict(info=dict(description=f'ghostdet synthetic shapes, {split}', seed=seed),
                    images=images, annotations=annotations, categories=categories)
        _write_json(paths[split], coco)
        if verbose:
            print(f'synthetic {split}: {len(images)} images, {len(annotations)} boxes '
                  f'-> {paths[split]}')
    _write_json(paths['manifest'], params)
    return paths


def _write_json(path: Path, obj: dict, indent: Optional[int] = None) -> None:
    tmp = path.with_suffix(path.suffix + '.tmp')
    tmp.write_text(json.dumps(obj, indent=indent))
    os.replace(tmp, path)
