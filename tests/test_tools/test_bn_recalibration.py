"""tools/analysis/bn_recalibration.py as a user runs it: a checkpoint whose backbone BN
statistics are off (as a small momentum leaves them) is validated as trained and with the
statistics recomputed from the training data."""
import re

import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ghostdet.datasets import make_synthetic_coco
from tests.helpers import REPO
from tests.test_tools.test_train_test_demo import CONFIG, options, run_tool

TOOL = REPO / 'tools/analysis/bn_recalibration.py'


def test_validates_as_trained_and_with_recomputed_statistics(tmp_path):
    data = str(tmp_path / 'data') + '/'
    make_synthetic_coco(data, num_train=8, num_val=2, num_test=2, seed=3, image_size=(160, 128))
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(CONFIG).model)
    bns = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:  # statistics far from any data's
        bn.running_mean.fill_(3.0)
        bn.running_var.fill_(50.0)
    checkpoint = tmp_path / 'stale_bn.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)

    result = run_tool([TOOL, CONFIG, checkpoint, '--work-dir', tmp_path / 'work'] +
                      options(data, **{'model.test_cfg.score_thr': 0.0}), timeout=600)
    out = result.stdout
    assert f'{len(bns)} backbone BN layers recomputed over 2 training batches' in out
    assert '| BN statistics | coco/bbox_mAP | coco/bbox_mAP_50 |' in out
    rows = re.findall(r'^\| (as trained|recomputed) \| ([0-9.]+) \| ([0-9.]+) \|$', out, re.M)
    assert [r[0] for r in rows] == ['as trained', 'recomputed']
    assert all(0.0 <= float(v) <= 1.0 for r in rows for v in r[1:])


def test_missing_checkpoint_is_a_one_line_error(tmp_path):
    result = run_tool([TOOL, CONFIG, tmp_path / 'none.pth'], check=False)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert f'error: checkpoint not found: {tmp_path}/none.pth' in result.stderr
