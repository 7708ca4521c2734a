"""Look at a dataset as the model gets it: each image after its split's pipeline (resize,
flips, crops, ...) with its ground-truth boxes drawn, and one overview picture of them, for
``tools/analysis/browse_dataset.py``."""
import math
import os.path as osp
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import cv2
import mmcv
import numpy as np
import torch
from mmdet.registry import DATASETS, VISUALIZERS
from mmengine.registry import init_default_scope
from mmengine.runner.utils import set_random_seed
from mmengine.utils import ProgressBar

from ..apis.builder import ConfigLike, load_config
from ..datasets.checks import check_data_files, image_folder, image_name

SPLITS = ('train', 'val', 'test')


def browse_dataset(config: ConfigLike,
                   out_dir: str,
                   split: str = 'train',
                   num_images: int = 16,
                   seed: int = 0,
                   cfg_options: Optional[dict] = None,
                   progress: bool = True) -> List[Dict[str, Any]]:
    """Draw the ground-truth boxes of the first ``num_images`` images of a config's ``split``
    after that split's pipeline, so that a misplaced or lost box, a wrong class or an
    augmentation that goes too far is seen before a training run, not after it.

    Writes one picture per image to ``out_dir``, named by the image's path under the dataset's
    image folder (its file name where it lies elsewhere; a repeat of an image, as a
    ``RepeatDataset`` gives, gets ``_2``, ``_3``, ...), and ``overview.png``: the pictures in a
    grid, each captioned with its name and number of boxes. The random augmentations are drawn
    from ``seed``, so the same command draws the same pictures.

    Args:
        config (str, Path or Config): The config.
        out_dir (str): Where to write the pictures.
        split (str): 'train', 'val' or 'test': the dataloader whose dataset (and pipeline) is
            drawn. Defaults to 'train'.
        num_images (int): How many images, from the dataset's first; fewer where it has fewer.
            Defaults to 16.
        seed (int): The seed of Python's, numpy's and torch's generators. Defaults to 0.
        cfg_options (dict, optional): ``--cfg-options`` overrides. Defaults to None.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        list[dict]: Per image: ``image`` (its path), ``picture`` (the written file), ``boxes``
        (``[x1, y1, x2, y2]`` after the pipeline, in the picture's pixels), ``classes`` and
        ``flip`` (the direction the pipeline flipped the image in, else None).
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {", ".join(SPLITS)}, got {split!r}')
    if num_images < 1:
        raise ValueError(f'num_images must be at least 1, got {num_images}')
    cfg = load_config(config, cfg_options)
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise KeyError(f'the config has no {key} to browse')
    check_data_files(cfg, str(config), (key,), evaluators=False)  # no evaluation here
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(cfg[key].dataset)
    classes = tuple(dataset.metainfo.get('classes', ()))
    vis_cfg = cfg.visualizer.copy()
    vis_cfg.name = f'ghostdet_browse_{id(dataset)}'
    vis_cfg.pop('vis_backends', None)  # the pictures are written to out_dir, nothing else
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset.metainfo
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_random_seed(seed)
    count = min(num_images, len(dataset))
    root = image_folder(dataset)
    records: List[Dict[str, Any]] = []
    seen: Dict[str, int] = {}
    drawn: List[np.ndarray] = []  # the pictures, for the overview
    bar = ProgressBar(count, file=sys.stdout) if progress else None
    for index in range(count):
        item = dataset[index]
        sample = item['data_samples'].cpu()
        image = item['inputs'].permute(1, 2, 0).numpy()  # BGR, as the pipeline packs it
        instances = sample.gt_instances
        boxes = instances.bboxes
        boxes = boxes.tensor if hasattr(boxes, 'tensor') else torch.as_tensor(boxes)
        instances.bboxes = boxes.float().reshape(-1, 4)
        name = _picture_name(sample.img_path, root, seen)
        picture = out / name
        picture.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # a label's background reaching over the edge
            warnings.filterwarnings('ignore', 'Warning: The polygon is out of bounds')
            visualizer.add_datasample(name, mmcv.bgr2rgb(image), sample, draw_pred=False,
                                      show=False, out_file=str(picture))
        drawn.append(mmcv.rgb2bgr(visualizer.get_image()))
        labels = instances.labels.tolist()
        records.append(dict(
            image=sample.img_path, picture=str(picture),
            boxes=[[round(float(v), 2) for v in box] for box in instances.bboxes],
            classes=[classes[i] if i < len(classes) else str(i) for i in labels],
            flip=sample.get('flip_direction') if sample.get('flip') else None))
        if bar is not None:
            bar.update()
    overview = out / 'overview.png'
    mmcv.imwrite(overview_grid(drawn, [_caption(r, out) for r in records]), str(overview))
    return records


def overview_grid(pictures: Sequence[np.ndarray], captions: Sequence[str],
                  cell_width: int = 320) -> np.ndarray:
    """The pictures (BGR) in a grid of near-square shape, each scaled to ``cell_width`` pixels
    wide, its caption in a white band above it."""
    columns = math.ceil(math.sqrt(len(pictures)))
    band = 18
    cells = []
    for picture, caption in zip(pictures, captions):
        scale = cell_width / picture.shape[1]
        cells.append((cv2.resize(picture, (cell_width, max(1, round(picture.shape[0] * scale)))),
                      caption))
    cell_height = max(c.shape[0] for c, _ in cells) + band
    rows = math.ceil(len(cells) / columns)
    grid = np.full((rows * cell_height, columns * cell_width, 3), 255, np.uint8)
    for i, (cell, caption) in enumerate(cells):
        top, left = (i // columns) * cell_height, (i % columns) * cell_width
        grid[top + band:top + band + cell.shape[0], left:left + cell_width] = cell
        cv2.putText(grid, caption, (left + 3, top + band - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return grid


def _caption(record: Dict[str, Any], out: Path) -> str:
    boxes = len(record['boxes'])
    flip = f', flipped {record["flip"]}' if record['flip'] else ''
    return f'{osp.relpath(record["picture"], out)}: {boxes} box{"es" * (boxes != 1)}{flip}'


def _picture_name(img_path: str, root: Optional[str], seen: Dict[str, int]) -> str:
    name = image_name(img_path, root)
    seen[name] = seen.get(name, 0) + 1
    if seen[name] > 1:
        stem, ext = osp.splitext(name)
        name = f'{stem}_{seen[name]}{ext}'
    return name
