"""ghostdet.study.logs on scalars files in mmengine's layout (one JSON object per line,
``WORK_DIR/TIMESTAMP/vis_data/scalars.json`` beside ``TIMESTAMP/TIMESTAMP.log``). Real runs'
files are read in tests/test_tools/test_train_test_demo.py."""
import json

import numpy as np
import pytest

from ghostdet.study.logs import (best_validation, default_keys, find_scalars,
                                 plot_training_logs, read_training_log, resolve_key,
                                 train_time)


def train_record(it, loss, epoch=None, time=0.5, data_time=0.1):
    record = {'lr': 0.01, 'data_time': data_time, 'loss': loss, 'loss_cls': loss / 2,
              'time': time}
    if epoch is not None:
        record['epoch'] = epoch
    return dict(record, iter=it, step=it)


def val_record(step, mAP):
    return {'coco/bbox_mAP': mAP, 'coco/bbox_mAP_50': mAP + 0.2, 'data_time': 0.01,
            'time': 0.2, 'step': step}


def write_start(work_dir, stamp, records, tail=''):
    """One start of tools/train.py: its scalars and text log."""
    folder = work_dir / stamp
    (folder / 'vis_data').mkdir(parents=True)
    lines = ''.join(json.dumps(r) + '\n' for r in records)
    (folder / 'vis_data' / 'scalars.json').write_text(lines + tail)
    (folder / f'{stamp}.log').write_text('')
    return folder


def epoch_run(epochs, iters=4, start=1, loss0=2.0):
    """Records of an epoch-based run logging every iteration and validating every epoch."""
    records = []
    for it in range(start, epochs * iters + 1):
        epoch = (it - 1) // iters + 1
        records.append(train_record(it, loss0 / it, epoch))
        if it % iters == 0:
            records.append(val_record(epoch, 0.1 * epoch))
    return records


def test_a_work_dir_gives_train_and_validation_records_in_order(tmp_path):
    write_start(tmp_path, '20260101_000000', epoch_run(3))
    write_start(tmp_path, '20260102_000000', [])  # tools/test.py: no scalars
    log = read_training_log(tmp_path)
    assert log.name == tmp_path.name and log.by_epoch and log.val_unit == 'epoch'
    assert [r['iter'] for r in log.train] == list(range(1, 13))
    assert [r['step'] for r in log.val] == [1, 2, 3]
    assert log.train_keys == ['lr', 'data_time', 'loss', 'loss_cls', 'time']
    assert log.val_keys[:2] == ['coco/bbox_mAP', 'coco/bbox_mAP_50']
    x, y, unit = log.series('loss')
    assert unit == 'iteration' and list(x) == list(range(1, 13))
    assert y[3] == pytest.approx(0.5)
    x, y, unit = log.series('coco/bbox_mAP')
    assert unit == 'epoch' and list(x) == [1, 2, 3] and y == pytest.approx([0.1, 0.2, 0.3])
    x, _, unit = log.series('time')  # logged by training and validation: training's
    assert unit == 'iteration' and len(x) == 12
    with pytest.raises(KeyError, match="logged no 'acc'"):
        log.series('acc')
    # a timestamped folder and the file itself name the same run
    for path in (tmp_path / '20260101_000000',
                 tmp_path / '20260101_000000' / 'vis_data' / 'scalars.json'):
        again = read_training_log(path)
        assert again.name == tmp_path.name and again.train == log.train


def test_a_resumed_start_continues_the_run_and_its_replayed_iterations_win(tmp_path):
    """Killed after iteration 7 with a checkpoint at 6: the resumed start logs 7 and 8 again."""
    first = epoch_run(2)[:8]  # iterations 1-7 and epoch 1's validation
    assert first[-1]['iter'] == 7
    resumed = [train_record(it, 9.0, 2) for it in (7, 8)] + [val_record(2, 0.5)]
    write_start(tmp_path, '20260101_000000', first)
    write_start(tmp_path, '20260101_010000', resumed)
    log = read_training_log(tmp_path)
    assert [r['iter'] for r in log.train] == list(range(1, 9))  # once each
    assert [r['loss'] for r in log.train[6:]] == [9.0, 9.0]
    assert [(r['step'], r['coco/bbox_mAP']) for r in log.val] == [(1, 0.1), (2, 0.5)]
    assert len(log.sources) == 2


def test_a_start_from_scratch_replaces_the_starts_before_it(tmp_path):
    write_start(tmp_path, '20260101_000000', epoch_run(3))
    write_start(tmp_path, '20260101_010000', epoch_run(1, loss0=7.0))  # no 'resumed'
    log = read_training_log(tmp_path)
    assert [r['iter'] for r in log.train] == [1, 2, 3, 4]
    assert log.train[0]['loss'] == 7.0 and [r['step'] for r in log.val] == [1]
    assert log.sources == [tmp_path / '20260101_010000' / 'vis_data' / 'scalars.json']


def test_an_iteration_based_run_validates_by_iteration(tmp_path):
    records = [train_record(it, 1.0) for it in (10, 20, 30)] + [val_record(30, 0.4)]
    write_start(tmp_path, '20260101_000000', records)
    log = read_training_log(tmp_path)
    assert not log.by_epoch and log.val_unit == 'iteration'
    assert log.series('coco/bbox_mAP')[2] == 'iteration'
    assert best_validation(log, 'coco/bbox_mAP') == (0.4, 30, 0.4, 30)


def test_a_line_cut_by_a_kill_is_dropped_but_a_bad_line_is_named(tmp_path):
    write_start(tmp_path / 'cut', 's', epoch_run(1), tail='{"lr": 0.01, "lo')
    assert len(read_training_log(tmp_path / 'cut').train) == 4
    folder = write_start(tmp_path / 'bad', 's', epoch_run(1), tail='not json\n')
    with pytest.raises(ValueError, match=r'scalars.json:6 is not a JSON line'):
        read_training_log(tmp_path / 'bad')
    (folder / 'vis_data' / 'scalars.json').write_text('[1, 2]\n')
    with pytest.raises(ValueError, match='scalars.json:1 is not an mmengine scalars record'):
        read_training_log(folder)


def test_a_folder_without_scalars_says_where_they_would_be(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        find_scalars(tmp_path / 'nowhere')
    write_start(tmp_path, 'test_only', [])
    with pytest.raises(FileNotFoundError, match='TIMESTAMP/vis_data/scalars.json'):
        read_training_log(tmp_path)


def test_keys_may_drop_the_evaluator_prefix(tmp_path):
    write_start(tmp_path / 'a', 's', epoch_run(1))
    logs = [read_training_log(tmp_path / 'a')]
    assert resolve_key(logs, 'bbox_mAP') == 'coco/bbox_mAP'
    assert resolve_key(logs, 'loss_cls') == 'loss_cls'
    assert default_keys(logs) == ['loss', 'coco/bbox_mAP']
    with pytest.raises(KeyError, match='no run logged .acc.; logged: lr, data_time, loss'):
        resolve_key(logs, 'acc')
    logs[0].val[0]['pascal_voc/bbox_mAP'] = 0.3
    with pytest.raises(KeyError, match='ambiguous: coco/bbox_mAP, pascal_voc/bbox_mAP'):
        resolve_key(logs, 'bbox_mAP')


def test_train_time_leaves_out_each_epochs_first_iteration(tmp_path):
    records = []
    for it in range(1, 9):
        epoch = (it - 1) // 4 + 1
        first = it % 4 == 1
        records.append(train_record(it, 1.0, epoch, time=5.0 if first else 0.1 * epoch,
                                    data_time=0.0 if first else 0.01 * epoch))
    write_start(tmp_path, 's', records)
    stats = train_time(read_training_log(tmp_path))
    assert stats.records == 6
    assert stats.groups == pytest.approx({1: 0.1, 2: 0.2})
    assert stats.slowest == (2, pytest.approx(0.2)) and stats.fastest[0] == 1
    assert stats.mean == pytest.approx(0.15) and stats.data_share == pytest.approx(0.1)
    assert stats.spread == pytest.approx(0.05)
    assert train_time(read_training_log(tmp_path), include_first=True).records == 8
    write_start(tmp_path / 'one', 's', records[:1])
    with pytest.raises(ValueError, match="beyond each epoch's first"):
        train_time(read_training_log(tmp_path / 'one'))


def test_the_picture_has_a_panel_per_key_and_a_line_per_run(tmp_path):
    import matplotlib.image as mpimg
    write_start(tmp_path / 'a', 's', epoch_run(3))
    write_start(tmp_path / 'b', 's', epoch_run(2, loss0=3.0))
    logs = [read_training_log(tmp_path / name) for name in 'ab']
    out = plot_training_logs(logs, ['loss', 'coco/bbox_mAP', 'lr'], tmp_path / 'c' / 'x.png',
                             title='two runs')
    picture = mpimg.imread(out)
    assert picture.shape[0] == 2 * 4.2 * 90 and picture.shape[1] == 2 * 6.5 * 90  # 2 x 2 panels
    # both runs' colours (matplotlib's C0 and C1) are drawn
    for colour in ((0x1f, 0x77, 0xb4), (0xff, 0x7f, 0x0e)):
        close = np.abs(picture[..., :3] * 255 - colour).max(axis=-1) < 8
        assert close.sum() > 100, colour
