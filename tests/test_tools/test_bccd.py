"""The BCCD configs train on the real data: convert ../shared's VOC files, then run a few
iterations of training and a test pass with tools/train.py and tools/test.py."""
import json
import re
from pathlib import Path

import cv2
import pytest

from ghostdet.datasets import convert_voc_to_coco
from ghostdet.study.report import log_curves, short_name
from tests.helpers import BCCD, require_shared
from tests.test_tools.test_train_test_demo import run_tool

CONFIG = 'configs/bccd/retinanet_ghostnet-1.0x_fpn_50e_bccd.py'


@pytest.fixture(scope='module')
def bccd_annotations(tmp_path_factory):
    out = tmp_path_factory.mktemp('bccd')
    convert_voc_to_coco(require_shared(BCCD), out, classes=('RBC', 'WBC', 'Platelets'))
    return str(out) + '/'


def test_bccd_config_trains_and_tests_on_the_real_data(bccd_annotations, tmp_path):
    """Two epochs of 3 iterations, then a test pass. The log has a line at each epoch's last
    iteration although the 2-iteration log interval skips it, and that line's ``loss`` is the
    epoch's mean (``loss_cls``/``loss_bbox`` keep mmdet's 50-iteration window, so epoch 2's
    mean is ``2 * (cls + bbox)[epoch 2] - (cls + bbox)[epoch 1]``): the learning curves'
    points."""
    images = str(BCCD / 'JPEGImages') + '/'
    opts = {f'{split}_dataloader.dataset.{key}': value
            for split, size in (('train', 6), ('val', 4), ('test', 4))
            for key, value in (('ann_file', f'{bccd_annotations}{split}.json'),
                               ('data_prefix.img', images), ('indices', size))}
    opts.update({f'{split}_dataloader.{key}': value
                 for split in ('train', 'val', 'test')
                 for key, value in (('num_workers', 0), ('persistent_workers', False))})
    opts.update({'train_dataloader.batch_size': 2, 'train_cfg.max_epochs': 2,
                 'default_hooks.checkpoint.interval': 1, 'default_hooks.logger.interval': 2,
                 'val_evaluator.ann_file': f'{bccd_annotations}val.json',
                 'test_evaluator.ann_file': f'{bccd_annotations}test.json',
                 'model.test_cfg.score_thr': 0.0})
    args = ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]
    result = run_tool(['tools/train.py', CONFIG, '--work-dir', tmp_path] + args, timeout=600)
    log = tmp_path / 'train.log'
    log.write_text(result.stdout + result.stderr)
    ends = {}
    for line in log.read_text().splitlines():
        found = re.search(r'Epoch\(train\) +\[(\d)\]\[3/3\].*', line)
        if found:
            ends[int(found.group(1))] = {k: float(v) for k, v in
                                         re.findall(r'(loss\w*): ([\d.]+)', found.group(0))}
    assert sorted(ends) == [1, 2]
    parts = {epoch: values['loss_cls'] + values['loss_bbox'] for epoch, values in ends.items()}
    loss = log_curves(log)[0]
    assert loss == {epoch: values['loss'] for epoch, values in ends.items()}
    assert loss[1] == pytest.approx(parts[1], abs=2e-4)
    assert loss[2] == pytest.approx(2 * parts[2] - parts[1], abs=5e-4)
    assert (tmp_path / 'epoch_2.pth').exists()
    result = run_tool(['tools/test.py', CONFIG, tmp_path / 'epoch_2.pth', '--work-dir',
                       tmp_path / 'test'] + args, timeout=600)
    log = result.stdout + result.stderr
    assert 'coco/bbox_mAP:' in log
    for name in ('RBC', 'WBC', 'Platelets'):  # classwise AP table
        assert name in log


def test_the_bccd_study_shares_one_budget_and_sees_the_data(bccd_annotations):
    """What tools/study.py would train by default: every BCCD config, with one schedule,
    batch, optimizer and seed, from scratch, and their data found."""
    import os

    from ghostdet.datasets import check_data_files
    from ghostdet.study.report import setup_lines
    from ghostdet.study.study import DATALOADERS, Study, annotated_test_images
    from tests.helpers import REPO

    images = str(BCCD / 'JPEGImages') + '/'
    opts = {f'{split}_dataloader.dataset.{key}': value
            for split in ('train', 'val', 'test')
            for key, value in (('ann_file', f'{bccd_annotations}{split}.json'),
                               ('data_prefix.img', images))}
    opts.update({f'{split}_evaluator.ann_file': f'{bccd_annotations}{split}.json'
                 for split in ('val', 'test')})
    configs = sorted(str(p) for p in (REPO / 'configs' / 'bccd').glob('*.py'))
    study = Study(configs, 'unused', cfg_options=opts, progress=None)
    assert len(study.runs_) == len(configs)
    for run in study.runs_:
        check_data_files(study.config(run), str(run.config), DATALOADERS)
    assert setup_lines(study) == [
        '- epochs: 50', '- train batch size: 16', '- optimizer: SGD lr 0.02', '- seed: 0',
        '- load_from / pretrained: none (from scratch)'
    ]
    test_images = annotated_test_images(study.config(study.runs_[0]))
    assert len(test_images) == 72
    assert all(os.path.isfile(path) for path, _ in test_images)
    labels = {label for _, boxes in test_images for _, label in boxes}
    assert labels == {0, 1, 2}  # RBC, WBC and Platelets all present in the test split


def test_the_bccd_configs_differ_only_in_backbone_and_neck():
    """Same budget means same everything else: per detector, the configs agree on all but the
    backbone and the neck's type, widths and Ghost settings, and every backbone has the same
    trainable BN (none keeps settings meant for pretrained weights)."""
    from mmengine.config import Config

    from tests.helpers import REPO

    rest, norms = {}, set()
    for path in sorted((REPO / 'configs' / 'bccd').glob('*.py')):
        cfg = Config.fromfile(path).to_dict()
        backbone = cfg['model'].pop('backbone')
        norms.add((repr(backbone['norm_cfg']), backbone['norm_eval'],
                   backbone.get('init_cfg'), backbone.get('frozen_stages', -1)))
        neck = cfg['model']['neck']
        for key in ('type', 'in_channels', 'ghost_ratio', 'ghost_dw_size'):
            neck.pop(key, None)
        rest.setdefault(path.name.split('_')[0], []).append((path.name, cfg))
    assert norms == {("{'type': 'BN', 'requires_grad': True}", False, None, -1)}
    assert sorted(rest) == ['faster-rcnn', 'retinanet']
    for detector, cfgs in rest.items():
        first_name, first = cfgs[0]
        for name, cfg in cfgs[1:]:
            assert cfg == first, f'{name} differs from {first_name} beyond backbone and neck'


def table_rows(markdown: str) -> list:
    """The table lines of a markdown text that are about a BCCD run."""
    return [line for line in markdown.splitlines()
            if line.startswith(('| retinanet_', '| faster-rcnn_'))]


def not_trained_line(markdown: str) -> str:
    """The line under the results table that names the runs not trained ('' if none)."""
    return next((line for line in markdown.splitlines()
                 if line.startswith('Not trained, so not in the table:')), '')


def test_the_published_report_is_rebuilt_from_the_kept_runs(bccd_annotations, tmp_path):
    """docs/results_bccd.md's rows (results, errors by class) come from the runs kept in
    docs/runs/bccd_*.tar.gz: docs/study.md's rebuild, in a scratch folder laid out as a checkout
    (data/bccd/ converted, ../shared beside it), writes the same rows and names the same runs
    as not trained; every config is one or the other, and the best model reaches test bbox
    mAP 0.45; the picture it draws has the published one's layout and draws the same
    detections (the record written beside it)."""
    import shutil
    import tarfile

    from tests.helpers import REPO, SHARED

    work = tmp_path / 'checkout'
    (work / 'data').mkdir(parents=True)
    shutil.copytree(bccd_annotations, work / 'data' / 'bccd')
    (tmp_path / 'shared').symlink_to(SHARED)  # the configs read the images from ../shared
    runs = work / 'work_dirs' / 'bccd_study'
    runs.mkdir(parents=True)
    packs = sorted((REPO / 'docs' / 'runs').glob('bccd_*.tar.gz'))
    assert packs
    for pack in packs:
        with tarfile.open(pack) as tar:
            assert not [m.name for m in tar.getmembers() if m.name.endswith('.pth')]
            tar.extractall(runs, filter='data')
    configs = sorted(str(p) for p in (REPO / 'configs' / 'bccd').glob('*.py'))
    run_tool([REPO / 'tools' / 'study.py'] + configs +
             ['--stages', 'report', '--report', 'r.md', '--picture', 'r.jpg', '--curves',
              'c.png', '--logs-dir', 'logs'], cwd=work, timeout=600)
    rebuilt, published = ((work / 'r.md').read_text(),
                          (REPO / 'docs' / 'results_bccd.md').read_text())
    assert table_rows(rebuilt) == table_rows(published)
    assert not_trained_line(rebuilt) == not_trained_line(published)
    tested = list(runs.glob('*/test_metrics.json'))
    trained = [row for row in table_rows(rebuilt) if row.endswith('| ok |')]
    assert len(trained) == len(tested) > 0
    named = set(re.findall(r'`([^`]+)`', not_trained_line(rebuilt)))  # the runs not trained
    assert {row.split(' | ')[0][2:] for row in trained} | named == \
        {short_name(Path(c).stem) for c in configs}
    assert max(float(row.split('|')[4]) for row in trained) >= 0.45  # the bbox mAP column
    assert (work / 'r.jpg').read_bytes()[:3] == b'\xff\xd8\xff'  # JPEG, from the extension
    # the picture's layout is the published one's; what its panels draw (titles, boxes, labels,
    # scores), not its pixels (they follow the machine's JPEG codec and drawing libraries)
    drawn = cv2.imread(str(work / 'r.jpg'))
    assert drawn.shape == cv2.imread(str(REPO / 'docs' / 'images' / 'results_bccd.jpg')).shape
    record = json.loads((work / 'r.json').read_text())
    assert record == json.loads((REPO / 'docs' / 'images' / 'results_bccd.json').read_text())
    assert f'`{record["image"]}`: ground truth, then each' in published
    assert [p['title'] for p in record['panels'][1:]] == [
        f'{row.split(" | ")[0][2:]}  mAP {float(row.split("|")[4]):.3f}' for row in trained]
