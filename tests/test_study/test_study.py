import json
import os
import time

import pytest

from ghostdet.datasets import NumClassesMismatchError
from ghostdet.models import NeckChannelsMismatchError
from ghostdet.study.study import (Job, Study, StudyRun, last_logged_epoch, plan_runs,
                                  read_json, run_jobs, write_json)


def _exit_with(code, delay):
    time.sleep(delay)
    os._exit(code)


def test_plan_runs(tmp_path):
    a = tmp_path / 'x' / 'det_a.py'
    a.parent.mkdir()
    a.write_text('')
    runs = plan_runs([str(a)], str(tmp_path / 'root'))
    assert runs[0].name == 'det_a' and runs[0].work_dir == tmp_path / 'root' / 'det_a'
    with pytest.raises(FileNotFoundError, match='nope.py'):
        plan_runs([str(tmp_path / 'nope.py')], 'root')
    b = tmp_path / 'det_a.py'
    b.write_text('')
    with pytest.raises(ValueError, match="share the name 'det_a'"):
        plan_runs([str(a), str(b)], 'root')
    with pytest.raises(ValueError, match='at least one config'):
        plan_runs([], 'root')


def test_last_logged_epoch(tmp_path):
    log = tmp_path / 'train.log'
    assert last_logged_epoch(log) is None
    log.write_text('config dump\n')
    assert last_logged_epoch(log) is None
    log.write_text('Epoch(train)  [3][10/13] loss\nEpoch(val) [3][5/5]\n'
                   'Epoch(train) [12][1/13] loss\n')
    assert last_logged_epoch(log) == 12
    log.write_text('Iter(train) [  40/200]  lr: 1e-3\n')
    assert last_logged_epoch(log) == 40


def test_write_json_is_atomic_and_read_json(tmp_path):
    path = tmp_path / 'a.json'
    assert read_json(path) is None
    write_json(path, dict(x=1.5))
    assert read_json(path) == dict(x=1.5)
    assert [p.name for p in tmp_path.iterdir()] == ['a.json']


def test_run_jobs_limits_parallelism_and_reports_exit_codes(tmp_path):
    events, lines = [], []

    def job(name, code, delay):
        run = StudyRun(tmp_path / f'{name}.py', tmp_path / name)
        return Job(run, _exit_with, (code, delay), tmp_path / f'{name}.log',
                   on_exit=lambda c: events.append(('end', name, c)),
                   on_start=lambda: events.append(('start', name)),
                   status=lambda: 'busy')

    codes = run_jobs([job('a', 0, 1.0), job('b', 3, 0.2), job('c', 0, 0.1)], parallel=2,
                     progress=lines.append, every_s=0.0, poll_s=0.05)
    assert codes == {'a': 0, 'b': 3, 'c': 0}
    # a and b start at once; c waits for a free slot (whichever ends first: on a loaded
    # machine b's process may take longer to start than a's 1 s), so never more than 2 run
    assert events[:2] == [('start', 'a'), ('start', 'b')]
    first_end = min(events.index(('end', 'a', 0)), events.index(('end', 'b', 3)))
    assert events.index(('start', 'c')) > first_end
    running = [sum(1 if e[0] == 'start' else -1 for e in events[:i + 1])
               for i in range(len(events))]
    assert max(running) == 2 and running[-1] == 0
    assert any('b: FAILED (exit 3)' in line for line in lines)
    assert any('waiting]' in line and 'busy' in line for line in lines)
    with pytest.raises(ValueError, match='parallel'):
        run_jobs([], parallel=0)


def test_study_json_helpers(tmp_path):
    run = StudyRun(tmp_path / 'a.py', tmp_path / 'a')
    run.work_dir.mkdir()
    assert run.train_done is None and run.metrics is None and run.measure is None
    assert run.train_seconds == 0 and not run.has_checkpoints()
    write_json(run.path('train_time.json'), [dict(start=10, end=25.5), dict(start=30, end=40)])
    assert run.train_seconds == 25.5
    (run.work_dir / 'epoch_1.pth').write_bytes(b'')
    assert run.has_checkpoints()
    json.loads(run.path('train_time.json').read_text())


def _study(tmp_path, names=('a', 'b', 'c')):
    configs = []
    for name in names:
        (tmp_path / f'{name}.py').write_text('')
        configs.append(str(tmp_path / f'{name}.py'))
    return Study(configs, str(tmp_path / 'runs'), progress=None)


def test_study_says_what_each_stage_has_left(tmp_path):
    study = _study(tmp_path)
    assert study.left() == dict(train=['a', 'b', 'c'], test=['a', 'b', 'c'],
                                measure=['a', 'b', 'c'])
    assert study.standing(['train', 'report']) == 'done: train 0/3. Left to do: train: all 3.'
    a, b, _ = study.runs_
    for run, files in ((a, ('train_done', 'test_metrics', 'measure')),
                       (b, ('train_done', 'test_metrics'))):
        for name in files:
            write_json(run.path(f'{name}.json'), {})
    assert [b.done(stage) for stage in ('train', 'test', 'measure')] == [True, True, False]
    with pytest.raises(ValueError, match="no such stage 'report'"):
        b.done('report')
    assert study.left(['train', 'measure']) == dict(train=['c'], measure=['b', 'c'])
    assert study.standing() == ('done: train 2/3, test 2/3, measure 1/3. Left to do: train: c; '
                                'test: c; measure: b, c.')
    write_json(b.path('measure.json'), {})
    assert study.standing(['test', 'measure']) == 'done: test 2/3, measure 2/3. Left to do: ' \
        'test: c; measure: c.'
    study.runs_ = study.runs_[:2]
    assert study.left() == {}
    assert study.standing() == 'done: train 2/2, test 2/2, measure 2/2. Nothing left to do.'


def test_by_run_keeps_the_settings_and_the_session(tmp_path):
    study = _study(tmp_path)
    study.amp, study.batch_sizes, study.started_ = True, (1, 4), '2026-01-01 00:00:00 UTC'
    parts = study.by_run()
    assert [[r.name for r in part.runs_] for part in parts] == [['a'], ['b'], ['c']]
    assert [part.runs_[0] for part in parts] == study.runs_
    for part in parts:
        assert part.amp and part.batch_sizes == (1, 4) and part.progress is None
        assert part.started_ == study.started_  # one study process: one session


def test_pack_leaves_checkpoints_out_and_unpacks_into_the_work_root(tmp_path):
    import tarfile

    study = _study(tmp_path)
    a, b, c = study.runs_
    files = {'train_done.json': b'{}', 'train.log': b'log', 'test_predictions.pkl': b'\x80',
             '20261124_082539/vis_data/scalars.json': b'{"loss": 1}\n',
             '20261124_082539/20261124_082539.log': b'log'}
    for name, data in files.items():
        (a.work_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (a.work_dir / name).write_bytes(data)
    for name in ('epoch_10.pth', 'best_coco_bbox_mAP_epoch_10.pth', 'last_checkpoint',
                 '.train_done.json.x1.tmp'):
        (a.work_dir / name).write_bytes(b'checkpoint')
    (a.work_dir / 'link.json').symlink_to(tmp_path / 'a.py')
    (b.work_dir / 'empty').mkdir(parents=True)  # b: checkpoints only (c: no folder)
    for name in ('epoch_1.pth', 'last_checkpoint'):
        (b.work_dir / name).write_bytes(b'checkpoint')
    pack = tmp_path / 'out' / 'runs.tar.gz'
    assert study.pack(pack) == ['a']  # what `packed N run(s)` counts
    assert [p.name for p in pack.parent.iterdir()] == ['runs.tar.gz']  # no temporary left
    with tarfile.open(pack) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == sorted(
            f'a/{name}' for name in files)
        assert 'a/link.json' not in tar.getnames()  # links are not copied back
        tar.extractall(tmp_path / 'elsewhere', filter='data')
    for name, data in files.items():
        assert (tmp_path / 'elsewhere' / 'a' / name).read_bytes() == data
    assert not (tmp_path / 'elsewhere' / 'b').exists()


def test_marks_change_with_a_finished_stage_or_a_new_checkpoint(tmp_path):
    study = _study(tmp_path, names=('a', 'b'))
    a, b = study.runs_
    b.work_dir.mkdir(parents=True)
    before = study.marks()
    (b.work_dir / 'train.log').write_text('more lines')  # logs alone are no progress
    assert study.marks() == before
    (b.work_dir / 'last_checkpoint').write_text(str(b.work_dir / 'epoch_10.pth'))
    saved = study.marks()
    assert saved != before
    (b.work_dir / 'last_checkpoint').write_text(str(b.work_dir / 'epoch_20.pth'))
    assert study.marks() != saved
    saved = study.marks()
    a.work_dir.mkdir(parents=True)
    write_json(a.path('measure.json'), {})
    assert study.marks() != saved


def test_a_training_is_marked_done_only_with_its_final_checkpoint(tmp_path):
    """What the study records when a training process ends: a failed one, or one whose
    `last_checkpoint` names no file (killed between the save and the pointer, or the pointer
    names a path of another machine), is left to train again; only an exit 0 with the
    checkpoint on disk writes train_done.json, which the test stage then reads."""
    said = []
    study = _study(tmp_path, names=('a',))
    study.progress = said.append
    (run,) = study.runs_
    run.work_dir.mkdir(parents=True)
    write_json(run.path('train_time.json'), [dict(start=1.0, end=1.0, resumed=False)])
    finished = study._train_finished(run)
    finished(1)
    assert not run.done('train') and said == []
    assert read_json(run.path('train_time.json'))[0]['end'] > 1.0  # the attempt's end moved
    finished(0)  # no pointer at all
    assert not run.done('train')
    assert said == ["  a: finished but its final checkpoint '' is missing; not marked done"]
    checkpoint = run.work_dir / 'epoch_50.pth'
    run.path('last_checkpoint').write_text(f'{checkpoint}\n')
    finished(0)  # a pointer to nothing
    assert not run.done('train') and 'epoch_50.pth' in said[-1]
    checkpoint.write_bytes(b'weights')
    finished(0)
    assert run.done('train') and run.train_done['checkpoint'] == str(checkpoint)
    assert run.train_done['amp'] is False and run.train_done['device'] == 'cpu'
    assert run.train_done['session']['started'] == study.started_
    assert len(said) == 2


def test_train_names_missing_data_or_weights_before_any_job(tmp_path):
    (tmp_path / 'img').mkdir()
    (tmp_path / 'a.json').write_text('{}')
    config = tmp_path / 'det_a.py'
    config.write_text(
        f"train_dataloader = dict(dataset=dict(data_root='{tmp_path}/', ann_file='a.json',\n"
        "                                      data_prefix=dict(img='img/')))\n"
        "model = dict(type='RetinaNet', backbone=dict(\n"
        "    type='GhostNet', init_cfg=dict(type='Pretrained', checkpoint='none.pth')))\n"
        "train_cfg = dict(max_epochs=1)\n")
    study = Study([str(config)], str(tmp_path / 'runs'), progress=None)
    with pytest.raises(FileNotFoundError,
                       match=r'det_a\.py: model\.backbone\.init_cfg\.checkpoint not found'):
        study.train()
    (tmp_path / 'a.json').unlink()
    with pytest.raises(FileNotFoundError, match=r'train_dataloader\.dataset\.ann_file'):
        study.train()
    assert not (tmp_path / 'runs').exists()  # no run was started


def test_train_names_a_model_that_does_not_fit_before_any_job(tmp_path):
    from ghostdet.datasets import make_synthetic_coco
    from tests.helpers import REPO
    make_synthetic_coco(tmp_path / 'data', num_train=2, num_val=1, num_test=1, seed=0)
    root = f'{tmp_path}/data/'
    config = tmp_path / 'det_b.py'
    config.write_text(
        f"_base_ = '{REPO}/configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'\n"
        f"data_root = '{root}'\n"
        "train_dataloader = dict(dataset=dict(data_root=data_root))\n"
        "val_dataloader = dict(dataset=dict(data_root=data_root))\n"
        "test_dataloader = dict(dataset=dict(data_root=data_root))\n"
        f"val_evaluator = dict(ann_file='{root}annotations/val.json')\n"
        f"test_evaluator = dict(ann_file='{root}annotations/test.json')\n")
    study = Study([str(config)], str(tmp_path / 'runs'), progress=None,
                  cfg_options={'model.neck.in_channels': [24, 40, 960]})
    with pytest.raises(NeckChannelsMismatchError, match=r'det_b\.py: model\.neck\.in_channels'):
        study.train()
    study = Study([str(config)], str(tmp_path / 'runs'), progress=None,
                  cfg_options={'test_dataloader.dataset.metainfo.classes': ['a', 'b']})
    with pytest.raises(NumClassesMismatchError, match=r'det_b\.py: .* test_dataloader\.dataset '):
        study.train()
    assert not (tmp_path / 'runs').exists()  # no run was started
