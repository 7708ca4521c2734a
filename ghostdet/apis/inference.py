"""Library side of ``tools/demo.py``: detect objects in images, draw them, write JSON."""
import copy
import glob
import json
import os.path as osp
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence, Union

import mmcv
from mmengine.config import Config
from mmengine.utils import ProgressBar

from ..datasets.checks import UnreadableImageError, load_image_checked
from ..models.inference_options import InferenceOptions, accelerate
from ..models.structure import check_config_channels
from ..models.utils import check_checkpoint_fits, reparameterize
from ..utils.atomic_io import atomic_write
from ..utils.config import config_file
from ..utils.text import preview

# run_demo rewrites predictions.json at most this often while it runs, so a process killed
# without a chance to write (SIGKILL, the OOM killer, a lost machine) loses at most this much work
SAVE_EVERY_S = 30.0

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def collect_images(inputs: Union[str, Sequence[str]]) -> List[str]:
    """Image paths from a file, a folder (its images, sorted) or a glob pattern, or a list of
    these; a file reached twice is listed once, where first reached. Raises FileNotFoundError
    naming what matched nothing."""
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    images: List[str] = []
    seen = set()
    for item in map(str, items):
        if osp.isdir(item):
            found = sorted(str(p) for p in Path(item).iterdir()
                           if p.suffix.lower() in IMAGE_SUFFIXES)
        elif osp.isfile(item):
            found = [item]
        else:
            found = sorted(p for p in glob.glob(item, recursive=True)
                           if p.lower().endswith(IMAGE_SUFFIXES))
        if not found:
            raise FileNotFoundError(f'no images found at {item!r} (a file, a folder of '
                                    f'{"/".join(IMAGE_SUFFIXES)} images, or a glob pattern)')
        for path in found:
            if osp.realpath(path) not in seen:
                seen.add(osp.realpath(path))
                images.append(path)
    return images


def picture_names(images: Sequence[str]) -> List[str]:
    """The names under which :func:`run_demo` writes the images' pictures: their file names,
    or, where two images share one (``cam1/0001.jpg``, ``cam2/0001.jpg``), their paths from the
    folder the images have in common, so that no picture overwrites another."""
    names = [osp.basename(path) for path in images]
    if len(set(names)) == len(names):
        return names
    paths = [osp.abspath(path) for path in images]
    common = osp.commonpath([osp.dirname(path) for path in paths])
    return [osp.relpath(path, common) for path in paths]


def check_demo_inputs(config: str, checkpoint: Optional[str],
                      inputs: Union[str, Sequence[str]], score_thr: float = 0.3) -> List[str]:
    """Check what :func:`run_demo` reads, before any model is built, and return the image
    paths. Raises ValueError or FileNotFoundError naming the bad input."""
    if not 0 <= score_thr <= 1:
        raise ValueError(f'score_thr must be in [0, 1], got {score_thr}')
    if isinstance(config, (str, Path)):
        config_file(config)
    if checkpoint is not None and '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    return collect_images(inputs)


def init_demo_model(config: str, checkpoint: Optional[str], device: str = 'cpu',
                    options: Optional[InferenceOptions] = None):
    """The detector :func:`run_demo` runs: mmdet's ``init_detector``, refused with an error
    that says why when the checkpoint's weights do not fit it (``CheckpointMismatchError``;
    ``init_detector`` loads what matches and only warns) or its neck does not fit its
    backbone, or its heads the neck (``ChannelsMismatchError``, from the config, before
    anything is built or loaded). An ``.onnx`` file is refused: its model is
    :func:`ghostdet.deployment.init_onnx_detector`'s, which ``tools/demo.py`` chooses for it.
    ``options``: run with these inference options (:func:`ghostdet.models.accelerate`, each
    checked against the fp32 eager outputs first; those ``device`` cannot run are refused
    before anything is built)."""
    from mmdet.apis import init_detector

    if options is not None:
        options.check_device(device)

    if checkpoint is not None and checkpoint.endswith('.onnx'):
        raise ValueError(f'{checkpoint} is an exported ONNX model, not a checkpoint: its demo '
                         'model is ghostdet.deployment.init_onnx_detector\'s (tools/demo.py '
                         'chooses it for a .onnx file)')
    if isinstance(config, (str, Path)):
        config = str(config_file(config))  # mmdet::... names too
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    check_config_channels(cfg, config if isinstance(config, str) else 'the config')
    model = init_detector(cfg, checkpoint, device=device)
    if checkpoint is not None:
        check_checkpoint_fits(model, checkpoint)
    reparameterize(model)  # GhostNetV3: the deployed form (logged)
    if options is not None and options.enabled:
        print(accelerate(model, options).summary(), flush=True)
    return model


def run_demo(config: str,
             checkpoint: Optional[str],
             inputs: Union[str, Sequence[str]],
             out_dir: str,
             device: str = 'cpu',
             score_thr: float = 0.3,
             draw: bool = True,
             model=None) -> List[dict]:
    """Detect objects in ``inputs``; write ``out_dir/vis/<image name>`` pictures (boxes with
    score >= ``score_thr``) and ``out_dir/predictions.json``; return the predictions.

    Each prediction: ``{'image', 'width', 'height', 'boxes': [[x1, y1, x2, y2], ...],
    'labels': [...], 'classes': [...], 'scores': [...]}``. An image that cannot be read (empty,
    corrupt, truncated) is named on stderr and left out; pictures are named by
    :func:`picture_names`; ``predictions.json`` is written also when the run stops early,
    and every :data:`SAVE_EVERY_S` seconds while it runs (a SIGKILL loses no more).
    ``model``, from :func:`init_demo_model` (``config``, ``checkpoint``, ``device``), if it is
    built already.
    """
    from mmdet.apis import inference_detector
    from mmdet.registry import VISUALIZERS

    from mmcv.transforms import Compose
    from mmdet.utils import get_test_pipeline_cfg

    images = check_demo_inputs(config, checkpoint, inputs, score_thr)
    if model is None:
        model = init_demo_model(config, checkpoint, device)
    # each image is read once, as the test pipeline's loader reads it, and detected from that
    # array by the rest of the pipeline, built once (mmdet builds it again for every image)
    pipeline = copy.deepcopy(get_test_pipeline_cfg(model.cfg))
    loader = pipeline[0]
    read = {k: loader[k] for k in ('color_type', 'imdecode_backend', 'backend_args')
            if k in loader}
    pipeline[0] = dict(type='mmdet.LoadImageFromNDArray', to_float32=loader.get('to_float32',
                                                                                False))
    pipeline = Compose(pipeline)
    classes = list(model.dataset_meta.get('classes', ())) if model.dataset_meta else []
    visualizer = None
    if draw:
        vis_cfg = model.cfg.visualizer.copy()
        vis_cfg.name = f'ghostdet_demo_{id(model)}'
        visualizer = VISUALIZERS.build(vis_cfg)
        visualizer.dataset_meta = model.dataset_meta
    out = Path(out_dir)
    (out / 'vis').mkdir(parents=True, exist_ok=True)
    predictions, skipped = [], []

    def save() -> float:
        atomic_write(json.dumps(predictions, indent=1).encode(), out / 'predictions.json')
        return time.monotonic()

    saved_at = time.monotonic()
    bar = ProgressBar(len(images), file=sys.stdout)
    try:
        for path, name in zip(images, picture_names(images)):
            try:  # one unreadable file in a folder is named and skipped, not the end of the run
                image = load_image_checked(path, **read)
            except (FileNotFoundError, UnreadableImageError) as err:
                skipped.append(path)
                print(f'\nskipped: {err}', file=sys.stderr, flush=True)
                bar.update()
                continue
            result = inference_detector(model, image, test_pipeline=pipeline)
            pred = result.pred_instances
            keep = pred.scores >= score_thr
            labels = pred.labels[keep].tolist()
            height, width = result.ori_shape
            predictions.append(
                dict(
                    image=path,
                    width=int(width),
                    height=int(height),
                    boxes=[[round(float(v), 2) for v in box] for box in pred.bboxes[keep]],
                    labels=labels,
                    classes=[classes[i] if i < len(classes) else str(i) for i in labels],
                    scores=[round(float(s), 4) for s in pred.scores[keep]]))
            if visualizer is not None:
                picture = out / 'vis' / name
                picture.parent.mkdir(parents=True, exist_ok=True)
                visualizer.add_datasample(
                    name, mmcv.bgr2rgb(image), result, draw_gt=False, show=False,
                    pred_score_thr=score_thr, out_file=str(picture))
            if time.monotonic() - saved_at >= SAVE_EVERY_S:
                saved_at = save()
            bar.update()
    finally:  # also when stopped (Ctrl-C, tools/demo.py's SIGTERM) or failing: kept
        save()
        done = len(predictions) + len(skipped)
        stopped = f', stopped after {done} of {len(images)} images' if done < len(images) else ''
        pictures = f' and their pictures to {out / "vis"}' if visualizer is not None else ''
        print(f'\nwrote the detections of {len(predictions)} images to '
              f'{out / "predictions.json"}{pictures}{stopped}'
              + (f'; skipped {len(skipped)} unreadable: {preview(skipped, 3)}' if skipped else ''),
              flush=True)
    return predictions
