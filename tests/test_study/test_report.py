import json
from pathlib import Path

import numpy as np
import pytest

from ghostdet.study.report import (learning_curves, log_curves, loss_smoothing, results_table,
                                   sessions, setup_lines, short_name, summarize_log, tile, titled,
                                   write_report)
from ghostdet.study.study import Study, annotated_test_images, write_json

QUICKSTART = 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'


def test_summarize_log_keeps_epoch_ends_results_and_errors(tmp_path):
    log = tmp_path / 'train.log'
    log.write_text('\n'.join([
        'config dump line',
        'Epoch(train)  [1][ 5/13] loss: 3.0',
        'Epoch(train)  [1][10/13] loss: 2.5',
        'Epoch(train)  [2][ 5/13] loss: 2.0',
        'Epoch(train)  [2][10/13] loss: 1.5',
        'Epoch(val) [2][11/11]    coco/bbox_mAP: 0.1000',
        'bbox_mAP_copypaste: 0.100 0.2',
        'Traceback (most recent call last):',
    ]))
    out = tmp_path / 'logs' / 'a.log'
    assert summarize_log(log, out) == 5
    assert out.read_text().splitlines() == [
        'Epoch(train)  [1][10/13] loss: 2.5', 'Epoch(train)  [2][10/13] loss: 1.5',
        'Epoch(val) [2][11/11]    coco/bbox_mAP: 0.1000', 'bbox_mAP_copypaste: 0.100 0.2',
        'Traceback (most recent call last):'
    ]


def test_log_curves_read_each_epochs_last_loss_and_its_val_map(tmp_path):
    log = tmp_path / 'train.log'
    log.write_text('\n'.join([
        'Epoch(train)  [1][ 5/13]  lr: 1.0e-02  loss: 3.0000  loss_cls: 2.0000',
        'Epoch(train)  [1][10/13]  lr: 1.0e-02  loss: 2.5000  loss_cls: 1.5000',
        'Epoch(val) [1][ 5/11]    eta: 0:00:27  time: 4.5227',  # progress, no result
        'Epoch(val) [1][11/11]    coco/bbox_mAP: 0.0100  coco/bbox_mAP_50: 0.0500',
        'Epoch(train)  [2][ 5/13]  lr: 1.0e-02  loss: 2.0000  loss_cls: 1.0000',
        'Epoch(train)  [2][ 5/13]  lr: 1.0e-02  loss: 1.9000  loss_cls: 1.0000',  # resumed
        'Epoch(train)  [3][ 5/13]  lr: 1.0e-02  grad_norm: nan  loss: nan  loss_cls: nan',
        'Epoch(val) [3][11/11]    coco/bbox_mAP_50: 0.5000  coco/bbox_mAP: 2.5e-01',
        'Epoch(train)  [4][ 5/13]  lr: 1.0e-02  loss_cls: 1.0000',  # no total loss logged
    ]))
    loss, val = log_curves(log)
    assert list(loss) == [1, 2, 3] and loss[1] == 2.5 and loss[2] == 1.9
    assert loss[3] != loss[3]  # nan
    assert val == {1: 0.01, 3: 0.25}
    summary = tmp_path / 'summary.log'
    summarize_log(log, summary)  # the published summaries give the same curves
    assert log_curves(summary)[1] == val and log_curves(summary)[0][2] == 1.9


@pytest.mark.parametrize('processor, words', [
    ({}, "mean of the last 10 iterations at each epoch's last log line"),  # mmengine's default
    (dict(window_size=50), "mean of the last 50 iterations at each epoch's last log line"),
    (dict(window_size=50, custom_cfg=[dict(data_src='loss', method_name='mean',
                                            window_size='epoch')]),
     'mean over each epoch up to its last log line'),
    (dict(window_size=50, custom_cfg=[dict(data_src='loss', method_name='max',
                                            window_size='global')]),
     "max since the first iteration, at each epoch's last log line"),
    (dict(custom_cfg=[dict(data_src='loss', method_name='current')]),
     "the last iteration's loss at each epoch's last log line"),
    # a custom entry with its own log_name adds a key and leaves `loss` as it was
    (dict(window_size=50, custom_cfg=[dict(data_src='loss', log_name='loss_epoch',
                                            method_name='mean', window_size='epoch')]),
     "mean of the last 50 iterations at each epoch's last log line"),
])
def test_loss_smoothing_says_what_the_logged_loss_is(processor, words):
    assert loss_smoothing(dict(log_processor=processor) if processor else {}) == words


def test_learning_curves_draw_the_runs_that_logged_an_epoch(tmp_path):
    import cv2
    other = tmp_path / 'other_12e_synthetic.py'
    other.write_text(f"_base_ = '{Path(QUICKSTART).resolve()}'\n")
    study = _study(tmp_path, [QUICKSTART, str(other)])
    out = tmp_path / 'curves.png'
    assert not learning_curves(study, out) and not out.exists()  # no logs yet
    study.runs_[0].work_dir.mkdir(parents=True)
    study.runs_[0].train_log.write_text('startup lines only\n')
    assert not learning_curves(study, out) and not out.exists()
    train = 'Epoch(train) [1][2/2] loss: 2.0\nEpoch(train) [2][2/2] loss: 1.0\n'
    val = 'Epoch(val) [2][1/1] coco/bbox_mAP: 0.3000\n'

    def colored_pixels(log: str) -> tuple:  # (loss panel, mAP panel)
        study.runs_[0].train_log.write_text(log)
        assert learning_curves(study, out)
        picture = cv2.imread(str(out))
        assert picture.shape == (432, 1170, 3)  # 13 x 4.8 inches at 90 dpi
        # the two axes' frames (columns of dark pixels over half the height): each panel
        # nearly half the figure wide
        frame = np.flatnonzero((picture.max(axis=2) < 100).sum(axis=0) > 432 / 2)
        edges = [frame[0], *(x for before, x in zip(frame, frame[1:]) if x > before + 5)]
        assert len(edges) == 4 and min(edges[1] - edges[0], edges[3] - edges[2]) > 450, edges
        colored = (picture.max(axis=2).astype(int) - picture.min(axis=2)) > 80
        return colored[:, :585].sum(), colored[:, 585:].sum()

    both, loss_only, val_only = map(colored_pixels, (train + val, train, val))
    assert loss_only[0] > 100 and val_only[0] == 0  # the loss curve, in the run's color
    assert both[1] > loss_only[1] > 0  # the mAP point, beyond the legend's sample


def test_pictures():
    image = np.zeros((40, 60, 3), np.uint8)
    panel = titled(image, 'model', 120)
    assert panel.shape == (28 + 80, 120, 3)
    assert (panel[28:] == 0).all() and (panel[:28] == 255).sum() > 0.9 * 28 * 120 * 3
    grid = tile([panel] * 3, 2)
    assert grid.shape == (2 * 108, 240, 3)
    assert (grid[108:, 120:] == 255).all()  # the empty cell is white


def test_short_name():
    assert short_name('retinanet_ghostnet-1.0x_fpn_50e_bccd') == 'retinanet_ghostnet-1.0x_fpn'
    assert short_name('a_ghost') == 'a_ghost'


def _study(tmp_path, configs):
    return Study(configs, str(tmp_path / 'root'), progress=None)


def test_test_images_maps_categories_by_name(tmp_path):
    ann = dict(images=[dict(id=2, file_name='b.jpg'), dict(id=1, file_name='a.jpg')],
               categories=[dict(id=7, name='square'), dict(id=3, name='circle')],
               annotations=[dict(image_id=2, category_id=7, bbox=[1, 2, 3, 4]),
                            dict(image_id=2, category_id=3, bbox=[0, 0, 1, 1], iscrowd=1)])
    (tmp_path / 'test.json').write_text(json.dumps(ann))
    study = Study([QUICKSTART], str(tmp_path), progress=None,
                  cfg_options={'test_dataloader.dataset.data_root': str(tmp_path),
                               'test_dataloader.dataset.ann_file': 'test.json'})
    images = annotated_test_images(study.config(study.runs_[0]))
    assert images == [(str(tmp_path / 'images' / 'a.jpg'), []),
                      (str(tmp_path / 'images' / 'b.jpg'), [([1, 2, 4, 6], 1)])]


def test_results_table_reads_what_the_runs_wrote(tmp_path):
    study = _study(tmp_path, [QUICKSTART])
    run = study.runs_[0]
    run.work_dir.mkdir(parents=True)
    table = results_table(study)
    assert table.splitlines()[2:] == [
        '', 'Not trained, so not in the table: `retinanet_ghostnet-1.0x_fpn`.']
    assert '| AP circle | AP square | AP triangle |' in table
    write_json(run.path('train_done.json'), dict(checkpoint='x.pth'))
    write_json(run.path('train_time.json'), [dict(start=0, end=100), dict(start=200, end=225.4)])
    assert results_table(study).splitlines()[2].endswith('| 2 min 05 s | not tested |')
    write_json(run.path('test_metrics.json'), {})
    assert 'no test detections above score_thr' in results_table(study)
    write_json(run.path('test_metrics.json'), {
        'coco/bbox_mAP': 0.4567, 'coco/bbox_mAP_50': 0.81, 'coco/circle_precision': 0.5,
        'coco/square_precision': 0.25, 'coco/triangle_precision': 0.125})
    entry = dict(batch_size=1, amp=False, images_per_s=31.25)
    write_json(run.path('measure.json'), dict(
        params=3_628_000, macs=2_345_000_000, shape=[480, 640],
        train=dict(images_per_s=12.34), inference=[entry, dict(entry, amp=True,
                                                               images_per_s=50.0)]))
    lines = results_table(study).splitlines()
    assert 'GMACs 480x640' in lines[0] and 'infer img/s b1 AMP' in lines[0]
    assert lines[2] == ('| retinanet_ghostnet-1.0x_fpn | 3.628 | 2.35 | 0.457 | 0.810 | 0.500 '
                        '| 0.250 | 0.125 | 12.3 | 31.2 | 50.0 | 2 min 05 s | ok |')


def test_results_table_names_runs_not_trained_under_it(tmp_path):
    configs = []
    for name in ('a', 'b', 'c'):
        configs.append(tmp_path / f'{name}_12e_synthetic.py')
        configs[-1].write_text(f"_base_ = '{Path(QUICKSTART).resolve()}'\n")
    study = _study(tmp_path, [str(c) for c in configs])
    for run in study.runs_[1:]:
        write_json(run.path('train_done.json'), dict(checkpoint='x.pth'))
    lines = results_table(study).splitlines()
    assert [line.split(' | ')[0] for line in lines[2:4]] == ['| b', '| c']
    assert lines[4:] == ['', 'Not trained, so not in the table: `a`.']


def test_setup_lines_list_differences_per_run(tmp_path):
    other = tmp_path / 'other_12e_synthetic.py'
    other.write_text(f"_base_ = '{Path(QUICKSTART).resolve()}'\nrandomness = dict(seed=5)\n")
    lines = setup_lines(_study(tmp_path, [QUICKSTART, str(other)]))
    assert '- epochs: 12' in lines
    assert '- optimizer: AdamW lr 0.002' in lines
    assert '- load_from / pretrained: none (from scratch)' in lines
    assert '- seed: retinanet_ghostnet-1.0x_fpn 0, other 5' in lines


@pytest.mark.parametrize('seconds,text', [(59.6, '1 min 00 s'), (7, '7 s')])
def test_duration(seconds, text):
    from ghostdet.study.report import _duration
    assert _duration(seconds) == text


def test_relative_paths_inside_the_checkout_only(tmp_path, monkeypatch):
    from ghostdet.study.report import _relative
    monkeypatch.chdir(tmp_path)
    assert _relative(str(tmp_path / 'work_dirs' / 'a' / 'epoch_150.pth')) == \
        'work_dirs/a/epoch_150.pth'
    outside = str(tmp_path.parent / 'elsewhere.pth')
    assert _relative(outside) == outside


def _session(started, boot, gpu='NVIDIA H200, CUDA 13.0'):
    return dict(started=started, command=f'python tools/study.py X  # {started}', boot_id=boot,
                machine='16-core x86_64 CPU (Xeon), torch 2.11.0+cu130', gpu=gpu,
                versions='mmcv 2.1.0, mmdet 3.3.0')


def test_runs_of_two_sessions_are_reported_as_such(tmp_path):
    """RetinaNets trained and measured in one device session, Faster R-CNNs in another: the
    report numbers the sessions, says which run each did and what command it ran, and marks
    each row's speed machine (speeds compare only within one machine)."""
    other = tmp_path / 'faster_12e_synthetic.py'
    other.write_text(f"_base_ = '{Path(QUICKSTART).resolve()}'\n")
    study = _study(tmp_path, [QUICKSTART, str(other)])
    entry = dict(batch_size=1, amp=False, images_per_s=30.0)
    measure = dict(params=1e6, macs=1e9, shape=[480, 640], device='cuda', threads=16,
                   train=dict(images_per_s=10.0, runs=50, warmup=10), inference=[entry])
    for run, started, boot in zip(study.runs_,
                                  ['2026-11-24 10:00:00 UTC', '2026-11-30 09:00:00 UTC'],
                                  ['boot-a', 'boot-b']):
        run.work_dir.mkdir(parents=True)
        write_json(run.path('train_done.json'), dict(
            checkpoint='x.pth', device='NVIDIA H200, CUDA 13.0', parallel=1, amp=True,
            session=_session(started, boot)))
        write_json(run.path('train_time.json'), [dict(start=0, end=60)])
        write_json(run.path('test_metrics.json'), {'coco/bbox_mAP': 0.5})
        write_json(run.path('measure.json'), dict(measure, session=_session(started, boot)))
    found = sessions(study)
    assert [(s['started'], roles) for s, roles in found] == [
        ('2026-11-24 10:00:00 UTC', dict(trained=['retinanet_ghostnet-1.0x_fpn'],
                                         measured=['retinanet_ghostnet-1.0x_fpn'])),
        ('2026-11-30 09:00:00 UTC', dict(trained=['faster'], measured=['faster']))]
    table = results_table(study).splitlines()
    assert table[0].endswith('| speed machine | train wall time | status |')
    assert table[2].endswith('| 1 | 1 min 00 s | ok |')
    assert table[3].endswith('| 2 | 1 min 00 s | ok |')
    text = write_report(study, tmp_path / 'r.md', 'python tools/study.py --stages report')
    assert ('  1. 2026-11-24 10:00:00 UTC, 16-core x86_64 CPU (Xeon), torch 2.11.0+cu130, '
            'NVIDIA H200, CUDA 13.0, mmcv 2.1.0, mmdet 3.3.0. trained: '
            'retinanet_ghostnet-1.0x_fpn; measured: retinanet_ghostnet-1.0x_fpn') in text
    assert 'speeds were measured on 2 machines' in text
    assert 'python tools/study.py X  # 2026-11-30 09:00:00 UTC  # machine 2' in text
    assert '- machine:' not in text  # the report's own machine measured nothing
    # each run's commands as it was trained (with --amp), not as the report stage was called
    assert text.count(' --amp') == 2 and '(the study runs them as library calls):' in text

    # the second study process ran on the first one's machine, in the same boot: one session
    # with two commands, no session column, no warning
    for name in ('train_done.json', 'measure.json'):
        path = study.runs_[1].path(name)
        record = json.loads(path.read_text())
        write_json(path, dict(record, session=_session('2026-11-24 10:30:00 UTC', 'boot-a')))
    [(session, roles)] = sessions(study)
    assert session['started'] == '2026-11-24 10:00:00 UTC'
    assert session['commands'] == ['python tools/study.py X  # 2026-11-24 10:00:00 UTC',
                                   'python tools/study.py X  # 2026-11-24 10:30:00 UTC']
    assert roles['measured'] == ['retinanet_ghostnet-1.0x_fpn', 'faster']
    assert 'speed machine' not in results_table(study)
    text = write_report(study, tmp_path / 'r.md', 'python tools/study.py --stages report')
    assert 'speeds were measured in' not in text and '  2. ' not in text
    assert 'X  # 2026-11-24 10:30:00 UTC  # machine 1' in text


def test_report_refuses_other_overrides_than_the_runs_were_trained_with(tmp_path):
    """The setup lines come from the configs plus the report's --cfg-options: a report of
    shortened runs without those options would claim the full schedule."""
    study = _study(tmp_path, [QUICKSTART])
    run = study.runs_[0]
    run.work_dir.mkdir(parents=True)
    write_json(run.path('train_done.json'), dict(
        checkpoint='x.pth', device='cpu', parallel=1, amp=False,
        cfg_options={'train_cfg.max_epochs': 1}))
    write_json(run.path('train_time.json'), [dict(start=0, end=1)])
    with pytest.raises(ValueError, match=r"retinanet_ghostnet-1.0x_fpn_12e_synthetic was "
                       r"trained with --cfg-options \{'train_cfg.max_epochs': 1\}, but the "
                       r'report is asked for \(none\)'):
        write_report(study, tmp_path / 'r.md', 'cmd')
    assert not (tmp_path / 'r.md').exists()
    study.cfg_options = {'train_cfg.max_epochs': 1}
    assert '- epochs: 1' in write_report(study, tmp_path / 'r.md', 'cmd')
    # the runs keep their options as JSON: a size given as a tuple comes back as a list
    study.cfg_options = {'train_cfg.max_epochs': 1,
                         'test_dataloader.dataset.pipeline.1.scale': (320, 240)}
    write_json(run.path('train_done.json'), dict(
        checkpoint='x.pth', device='cpu', parallel=1, amp=False,
        cfg_options=study.cfg_options))
    assert '- epochs: 1' in write_report(study, tmp_path / 'r.md', 'cmd')
    study.cfg_options = {'train_cfg.max_epochs': 1,
                         'test_dataloader.dataset.pipeline.1.scale': (320, 256)}
    with pytest.raises(ValueError, match='pass the same options'):
        write_report(study, tmp_path / 'r.md', 'cmd')
