"""The README's main job, end to end on the embedded synthetic dataset: make the data, train a
GhostNet RetinaNet on it (CPU, minutes), evaluate it on the held-out test split and draw its
detections on a test image."""
import json
import os.path as osp
from typing import Optional


from .inference import run_demo
from .runner import (build_run_config, build_test_config, build_train_config,
                     latest_checkpoint, test, train)

QUICKSTART_CONFIG = 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'


def run_quickstart(config: str = QUICKSTART_CONFIG,
                   work_dir: Optional[str] = None,
                   data_root: Optional[str] = None,
                   cfg_options: Optional[dict] = None) -> dict:
    """Return ``{'metrics', 'checkpoint', 'picture', 'predictions'}``.

    A run that was killed resumes from its last checkpoint; a finished one is not retrained.
    """
    from ghostdet.datasets import make_synthetic_coco

    cfg_options = dict(cfg_options or {})
    probe = build_run_config(config, work_dir, cfg_options)  # its data_root and work_dir
    data_root = data_root or probe.data_root
    print(f'[quickstart] 1/4 dataset: {data_root}')
    paths = make_synthetic_coco(data_root)
    if data_root != probe.data_root:
        cfg_options.update(_data_root_options(probe, data_root))
    work_dir = probe.work_dir
    resume = 'auto' if latest_checkpoint(work_dir) else None
    print(f'[quickstart] 2/4 training in {work_dir}'
          + (' (resuming from its last checkpoint)' if resume else ''))
    train(build_train_config(config, work_dir, resume=resume, cfg_options=cfg_options))
    checkpoint = latest_checkpoint(work_dir)
    print(f'[quickstart] 3/4 evaluating {checkpoint} on the test split')
    metrics = test(build_test_config(config, checkpoint, work_dir, cfg_options=cfg_options))
    with open(paths['test']) as f:
        first_test_image = json.load(f)['images'][0]['file_name']
    image = osp.join(data_root, 'images', first_test_image)
    demo_dir = osp.join(work_dir, 'demo')
    print(f'[quickstart] 4/4 demo on held-out {image}')
    predictions = run_demo(config, checkpoint, image, demo_dir, score_thr=0.3)
    picture = osp.join(demo_dir, 'vis', osp.basename(image))
    print(f'[quickstart] test bbox mAP {metrics["coco/bbox_mAP"]:.3f} '
          f'(mAP@50 {metrics["coco/bbox_mAP_50"]:.3f}; random boxes score ~0.00)')
    print(f'[quickstart] picture: {picture}')
    return dict(metrics=metrics, checkpoint=checkpoint, picture=picture,
                predictions=predictions)


def _data_root_options(cfg, data_root: str) -> dict:
    root = data_root.rstrip('/') + '/'
    options = {}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = root
    options['val_evaluator.ann_file'] = root + 'annotations/val.json'
    options['test_evaluator.ann_file'] = root + 'annotations/test.json'
    return options
