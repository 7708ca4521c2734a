"""mmdet's own analysis tools (shipped inside the mmdet package, ``mmdet/.mim/tools``) on a
ghostdet config: docs/tools.md points users at them, so they must keep working with our configs
(``custom_imports`` registers ghostdet's dataset and transforms when the config is read)."""
import json
from pathlib import Path

import cv2
import mmdet
import numpy as np

from ghostdet.datasets import make_synthetic_coco
from tests.helpers import REPO
from tests.test_tools.test_train_test_demo import run_tool

MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools' / 'analysis_tools'
CONFIG = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'


def test_browse_dataset_draws_the_ground_truth_of_every_training_image(tmp_path):
    data = tmp_path / 'data'
    make_synthetic_coco(data, num_train=4, num_val=1, num_test=1, seed=2)
    out = tmp_path / 'browse'
    run_tool([MMDET_TOOLS / 'browse_dataset.py', CONFIG, '--output-dir', out, '--not-show',
              '--cfg-options', f'train_dataloader.dataset.data_root={data}/',
              'train_dataloader.dataset.pipeline.3.prob=0.0'],  # no flip: compare with the file
             timeout=300)
    train = json.loads((data / 'annotations/train.json').read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(i['file_name'] for i in train['images'])
    for image in train['images']:
        raw = cv2.imread(str(data / 'images' / image['file_name'])).astype(int)
        drawn = cv2.imread(str(out / image['file_name'])).astype(int)
        assert drawn.shape == raw.shape  # 320x256: the pipeline's scale
        changed = (np.abs(drawn - raw).sum(axis=2) > 60).mean()
        assert 0.005 < changed < 0.3  # the boxes and labels, on the unchanged photo
