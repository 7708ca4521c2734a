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


def test_missing_training_data_is_named_before_the_validation_pass(tmp_path):
    """The BN pass reads the training data, after a whole validation pass (on COCO's val,
    hours on a CPU): a missing training set failed only then (by hand: 551 lines of output,
    the val mAP, then the error). Now one line first, as train.py and test.py."""
    data = str(tmp_path / 'data') + '/'
    make_synthetic_coco(data, num_train=2, num_val=2, num_test=2, seed=3, image_size=(160, 128))
    checkpoint = tmp_path / 'any.pth'
    checkpoint.write_bytes(b'')  # not read: the data check comes first
    result = run_tool([TOOL, CONFIG, checkpoint, '--work-dir', tmp_path / 'work']
                      + options(data, **{'train_dataloader.dataset.data_root': '/nonexistent/'}),
                      check=False)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert ('train_dataloader.dataset.ann_file (annotation file) not found: '
            '/nonexistent/annotations/train.json') in result.stderr
    assert 'Epoch(val)' not in result.stdout


def test_a_neck_or_head_that_does_not_fit_is_named_before_the_validation_pass(tmp_path):
    data = str(tmp_path / 'data') + '/'
    make_synthetic_coco(data, num_train=2, num_val=2, num_test=2, seed=3, image_size=(160, 128))
    checkpoint = tmp_path / 'any.pth'
    checkpoint.write_bytes(b'')
    for option, named in (('model.backbone.widen_factor', 'model.neck.in_channels'),
                          ('model.bbox_head.num_classes', 'num_classes')):
        result = run_tool([TOOL, CONFIG, checkpoint, '--work-dir', tmp_path / 'work']
                          + options(data, **{option: 5 if 'classes' in option else 1.3}),
                          check=False)
        assert result.returncode == 2 and 'Traceback' not in result.stderr, option
        assert result.stderr.startswith('error: ') and named in result.stderr, result.stderr
        assert 'System environment' not in result.stdout  # before the Runner and its dump
