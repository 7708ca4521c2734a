"""tools/study.py end to end on a tiny synthetic dataset: two detectors trained at once, tested,
measured and reported; then a second run resumes instead of redoing anything. CPU, 1 epoch:
this checks the tool, not the accuracy (real numbers come from the GPU machine)."""
import json
import re
from pathlib import Path

import cv2
import pytest

from ghostdet.datasets import make_synthetic_coco
from ghostdet.utils.checkpoint import load_predictions
from tests.helpers import REPO
from tests.test_tools.test_train_test_demo import run_tool

QUICKSTART = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp('study')
    data = root / 'data'
    make_synthetic_coco(data, num_train=8, num_val=2, num_test=4, seed=1,
                        image_size=(160, 128))
    ghost = root / 'det-ghost_1e_synthetic.py'
    ghost.write_text(f"_base_ = '{QUICKSTART}'\n")
    mnv3 = root / 'det-mnv3_1e_synthetic.py'
    mnv3.write_text(
        f"_base_ = '{QUICKSTART}'\n"
        "model = dict(backbone=dict(_delete_=True, type='MobileNetV3', arch='large',\n"
        "    out_indices=(1, 2, 3), norm_cfg=dict(type='BN', requires_grad=True),\n"
        "    norm_eval=False), neck=dict(in_channels=[40, 112, 960]))\n")
    d = f'{data}/'
    options = {
        'train_dataloader.dataset.data_root': d, 'val_dataloader.dataset.data_root': d,
        'test_dataloader.dataset.data_root': d,
        'val_evaluator.ann_file': d + 'annotations/val.json',
        'test_evaluator.ann_file': d + 'annotations/test.json',
        'test_evaluator.classwise': True, 'model.test_cfg.score_thr': 0.0,
        'train_dataloader.batch_size': 4, 'train_cfg.max_epochs': 1,
    }
    out = root / 'docs'
    args = [REPO / 'tools/study.py', ghost, mnv3, '--work-root', root / 'runs', '--parallel', 2,
            '--runs', 2, '--warmup', 1, '--batch-sizes', 1, 2, '--shape', 128, 160,
            '--report', out / 'results.md', '--picture', out / 'images/side.png',
            '--curves', out / 'images/curves.png', '--logs-dir', out / 'logs', '--every', 2,
            '--cfg-options'] + [f'{k}={v}' for k, v in options.items()]
    first = run_tool(args + ['--pack', root / 'runs.tar.gz'], timeout=600)
    return dict(root=root, args=args, out=out, first=first,
                runs=[root / 'runs' / p.stem for p in (ghost, mnv3)])


def test_every_stage_writes_its_results(study):
    for run in study['runs']:
        done = json.loads((run / 'train_done.json').read_text())
        assert Path(done['checkpoint']).is_file() and done['parallel'] == 2
        assert done['device'] == 'cpu'
        attempts = json.loads((run / 'train_time.json').read_text())
        assert len(attempts) == 1 and attempts[0]['end'] > attempts[0]['start']
        metrics = json.loads((run / 'test_metrics.json').read_text())
        assert {'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/circle_precision'} <= set(metrics)
        measure = json.loads((run / 'measure.json').read_text())
        assert measure['params'] > 1e6 and measure['macs'] > 1e8
        assert [(e['batch_size'], e['amp']) for e in measure['inference']] == [(1, False),
                                                                               (2, False)]
        assert measure['train']['batch_size'] == 4  # the config's, as overridden
        session = done['session']  # where and how: kept for reports assembled elsewhere
        assert measure['session'] == session  # one study process trained and measured
        assert session['command'].startswith('python tools/study.py ')
        assert '--parallel 2' in session['command'] and 'CPU' in session['machine']
        assert session['gpu'] is None and session['versions'].startswith('mmcv 2.1.0')
        assert session['boot_id'] and session['started'].endswith(' UTC')
    assert 'epoch 1/1' in study['first'].stdout or 'done after' in study['first'].stdout
    assert 'done: train 2/2, test 2/2, measure 2/2. Nothing left to do.' in study['first'].stdout
    assert f"packed 2 run(s) without checkpoints into {study['root'] / 'runs.tar.gz'}" in (
        study['first'].stdout)


def test_report_table_holds_the_measured_numbers(study):
    text = (study['out'] / 'results.md').read_text()
    results = text.split('## Results')[1].split('\n## ')[0]
    rows = [line for line in results.splitlines() if line.startswith('| det-')]
    assert len(rows) == 2
    for row, run in zip(rows, study['runs']):
        cells = [c.strip() for c in row.strip('|').split('|')]
        metrics = json.loads((run / 'test_metrics.json').read_text())
        measure = json.loads((run / 'measure.json').read_text())
        assert cells[0] == run.name.replace('_1e_synthetic', '')
        assert cells[1] == f'{measure["params"] / 1e6:.3f}'
        assert cells[3] == f'{metrics["coco/bbox_mAP"]:.3f}'
        assert cells[5] == f'{metrics["coco/circle_precision"]:.3f}'
        assert cells[9] == f'{measure["inference"][0]["images_per_s"]:.1f}'
        assert cells[-1] == 'ok'
    assert '- epochs: 1' in text and '2 run(s) trained at once (sharing it), fp32' in text
    assert 'python tools/study.py ' in text
    assert '- machines (one boot each) whose study processes' in text
    assert re.search(r'  1\. .+ trained: det-ghost, det-mnv3; measured: det-ghost, det-mnv3',
                     text)
    assert re.search(r'python tools/study.py \S+det-ghost_1e_synthetic.py .+  # machine 1', text)
    assert re.search(r'python tools/train.py \S+det-ghost_1e_synthetic.py --work-dir', text)
    assert re.search(r'python tools/test.py \S+det-ghost_1e_synthetic.py \S+ --work-dir \S+ '
                     r'--out \S+/det-ghost_1e_synthetic/test_predictions.pkl', text)
    assert '(the study runs them as library calls, several at once):' in text
    assert '![side by side](images/side.png)' in text
    assert '![learning curves](images/curves.png)' in text
    assert 'BCCD' not in text  # the BCCD introduction is only for the BCCD configs


def test_errors_by_class_count_every_test_box_once(study):
    text = (study['out'] / 'results.md').read_text()
    errors = text.split('## Errors by class')[1].split('\n## ')[0]
    assert ('| model | circle: found / confused / missed | square: found / confused / missed | '
            'triangle: found / confused / missed | no box (circle / square / triangle) |'
            ) in errors
    with open(study['root'] / 'data/annotations/test.json') as f:
        test = json.load(f)
    boxes = [sum(a['category_id'] == c['id'] for a in test['annotations'])
             for c in test['categories']]
    rows = [line for line in errors.splitlines() if line.startswith('| det-')]
    assert [r.split(' |')[0] for r in rows] == ['| det-ghost', '| det-mnv3']
    for row, run in zip(rows, study['runs']):
        cells = [c.strip() for c in row.strip('|').split('|')][1:]
        per_class = [[int(v) for v in cell.split(' / ')] for cell in cells[:3]]
        assert [sum(c) for c in per_class] == boxes  # found + confused + missed: every box
        kept = load_predictions(str(run / 'test_predictions.pkl'))  # by the test stage
        assert len(kept) == len(test['images'])
        above = sum(int((p['pred_instances']['scores'] >= 0.3).sum()) for p in kept)
        found = sum(c[0] + c[1] for c in per_class)
        assert found + sum(int(v) for v in cells[3].split(' / ')) == above  # each detection once


def test_picture_and_log_summaries(study):
    assert cv2.imread(str(study['out'] / 'images/curves.png')).shape == (432, 1170, 3)
    picture = cv2.imread(str(study['out'] / 'images/side.png'))
    assert picture.shape == (28 + 320, 3 * 400, 3)  # ground truth + 2 models, 160x128 -> 400
    truth, model = picture[28:, :400].astype(int), picture[28:, 400:800].astype(int)
    # the ground-truth boxes are drawn; the 1-epoch model has none above score 0.3
    assert (abs(truth - model).sum(axis=2) > 60).mean() > 0.01
    # what the panels draw, written beside the picture: the first test image's boxes, then
    # each run's detections from score 0.3
    record = json.loads((study['out'] / 'images/side.json').read_text())
    test = json.loads((study['root'] / 'data/annotations/test.json').read_text())
    first = min(test['images'], key=lambda image: image['id'])
    boxes = [[x, y, x + w, y + h] for a in test['annotations'] if a['image_id'] == first['id']
             for x, y, w, h in [a['bbox']]]
    assert record['image'] == Path(first['file_name']).name and record['score_thr'] == 0.3
    truth_panel, *model_panels = record['panels']
    assert truth_panel['title'] == f'ground truth ({len(boxes)} boxes)'
    assert boxes and sum(truth_panel['bboxes'], []) == pytest.approx(sum(boxes, []), abs=1e-4)
    assert [p['title'].split('  mAP ')[0] for p in model_panels] == ['det-ghost', 'det-mnv3']
    assert all(score >= 0.3 for p in model_panels for score in p['scores'])
    for run in study['runs']:
        summary = (study['out'] / 'logs' / f'{run.name}.log').read_text()
        assert 'Epoch(train) [1][2/2]' in summary.replace('  ', ' ')


def test_report_from_runs_copied_without_checkpoints(study, tmp_path):
    """Runs trained elsewhere come back as their JSON files and logs only (checkpoints are too
    big to carry): ``--pack`` writes them; the report, picture included, is assembled from
    those."""
    import tarfile
    copies = tmp_path / 'runs'
    with tarfile.open(study['root'] / 'runs.tar.gz') as tar:
        names = tar.getnames()
        tar.extractall(copies, filter='data')
    assert {n.split('/')[0] for n in names} == {run.name for run in study['runs']}
    assert not [n for n in names if n.endswith('.pth') or n.endswith('last_checkpoint')]
    for run in study['runs']:
        assert list(run.glob('*.pth')) and (run / 'last_checkpoint').is_file()  # left out
        kept = json.loads((copies / run.name / 'picture_dets.json').read_text())  # test stage
        assert list(kept) == ['test_00000.jpg'] and set(kept['test_00000.jpg']) == {
            'bboxes', 'scores', 'labels'}
        assert (copies / run.name / 'test_predictions.pkl').read_bytes() == (
            run / 'test_predictions.pkl').read_bytes()
        assert (copies / run.name / 'train.log').read_text() == (run / 'train.log').read_text()
        done = json.loads((copies / run.name / 'train_done.json').read_text())
        done['checkpoint'] = '/on/another/machine/epoch_1.pth'
        (copies / run.name / 'train_done.json').write_text(json.dumps(done))
    args = study['args'][:]
    args[args.index('--work-root') + 1] = copies
    args[args.index('--report') + 1] = tmp_path / 'results.md'
    args[args.index('--picture') + 1] = tmp_path / 'side.png'
    args[args.index('--curves') + 1] = tmp_path / 'curves.png'
    args[args.index('--logs-dir') + 1] = tmp_path / 'logs'
    result = run_tool(args + ['--stages', 'report'], timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    same = cv2.imread(str(study['out'] / 'images/side.png'))
    assert (cv2.imread(str(tmp_path / 'side.png')) == same).all()
    assert (tmp_path / 'side.json').read_text() == (study['out'] / 'images/side.json').read_text()
    assert (tmp_path / 'curves.png').is_file()  # from the copied train.log
    table = [line for line in (tmp_path / 'results.md').read_text().splitlines()
             if line.startswith('| det-')]
    assert table == [line for line in (study['out'] / 'results.md').read_text().splitlines()
                     if line.startswith('| det-')]

    (copies / study['runs'][1].name / 'picture_dets.json').unlink()
    missing = run_tool(args + ['--stages', 'report'], timeout=300, check=False)
    assert missing.returncode == 2
    assert 'det-mnv3_1e_synthetic: drawing' in missing.stderr
    assert 'epoch_1.pth (not found)' in missing.stderr and 'Traceback' not in missing.stderr


def test_second_run_resumes_instead_of_redoing(study, tmp_path):
    import shutil
    runs = []  # a copy: the other tests read the first run's files as it left them
    for run in study['runs']:
        shutil.copytree(run, tmp_path / 'runs' / run.name)
        runs.append(tmp_path / 'runs' / run.name)
    ghost = runs[0]
    (ghost / 'train_done.json').unlink()  # as if killed after its last checkpoint
    (ghost / 'test_metrics.json').unlink()
    measured = (ghost / 'measure.json').read_text()
    args = study['args'][:]
    args[args.index('--work-root') + 1] = tmp_path / 'runs'
    args[args.index('--report') + 1] = tmp_path / 'results.md'
    args[args.index('--picture') + 1] = tmp_path / 'side.png'
    args[args.index('--curves') + 1] = tmp_path / 'curves.png'
    args[args.index('--logs-dir') + 1] = tmp_path / 'logs'
    second = run_tool(args, timeout=600)
    assert 'train: 1 of 2 already trained, 1 to go' in second.stdout
    assert 'det-ghost_1e_synthetic: resuming' in second.stdout
    attempts = json.loads((ghost / 'train_time.json').read_text())
    assert [a['resumed'] for a in attempts] == [False, True]
    mnv3_attempts = json.loads((runs[1] / 'train_time.json').read_text())
    assert len(mnv3_attempts) == 1  # finished run not touched
    assert (ghost / 'test_metrics.json').is_file()
    assert (ghost / 'measure.json').read_text() == measured  # not measured twice


def test_run_by_run_finishes_and_packs_each_run_before_the_next(study, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    import tarfile
    import time

    for run in study['runs']:  # trained already: the trainings resume at their end
        shutil.copytree(run, tmp_path / 'runs' / run.name)
        for done in ('train_done.json', 'test_metrics.json', 'measure.json'):
            (tmp_path / 'runs' / run.name / done).unlink()
    args = [str(a) for a in study['args']]
    args[args.index('--work-root') + 1] = str(tmp_path / 'runs')
    args.remove('--parallel')
    args.remove('2')
    pack = tmp_path / 'runs.tar.gz'
    args = args[:3] + ['--run-by-run', '--stages', 'train', 'test', 'measure', '--pack',
                       str(pack)] + args[3:]  # after the configs: --stages takes a list
    out = tmp_path / 'study.out'
    with open(out, 'w') as f:
        proc = subprocess.Popen([sys.executable] + args, cwd=REPO, stdout=f,
                                stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1'))
    deadline = time.time() + 300
    while 'det-mnv3_1e_synthetic: resuming' not in out.read_text() and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.2)
    assert 'det-mnv3_1e_synthetic: resuming' in out.read_text(), out.read_text()[-3000:]
    with tarfile.open(pack) as tar:  # the machine could go now: the first run is kept
        kept = set(tar.getnames())
    assert proc.wait(timeout=300) == 0, out.read_text()[-3000:]
    assert {f'det-ghost_1e_synthetic/{name}' for name in (
        'train_done.json', 'test_metrics.json', 'measure.json')} <= kept
    assert not {f'det-mnv3_1e_synthetic/{name}' for name in (
        'train_done.json', 'test_metrics.json', 'measure.json')} & kept
    stdout = out.read_text()
    order = [stdout.index(line) for line in (
        'det-ghost_1e_synthetic: resuming', 'test: 1 to evaluate', 'measure: det-ghost',
        'det-mnv3_1e_synthetic: resuming', 'measure: det-mnv3')]
    assert order == sorted(order), stdout[-3000:]
    assert stdout.index('test: 1 to evaluate', order[3]) < order[4]
    assert 'done: train 2/2, test 2/2, measure 2/2. Nothing left to do.' in stdout
    runs = [tmp_path / 'runs' / run.name for run in study['runs']]
    written = [(run / name).stat().st_mtime for run in runs
               for name in ('train_done.json', 'test_metrics.json', 'measure.json')]
    assert written == sorted(written)
    sessions = [json.loads((run / name).read_text())['session'] for run in runs
                for name in ('train_done.json', 'measure.json')]
    assert all(s == sessions[0] for s in sessions)  # one study process, one session
    assert '--run-by-run' in sessions[0]['command']
    with tarfile.open(pack) as tar:
        assert 'det-mnv3_1e_synthetic/measure.json' in tar.getnames()


def test_run_by_run_refuses_parallel(tmp_path):
    result = run_tool([REPO / 'tools/study.py', QUICKSTART, '--run-by-run', '--parallel', '2'],
                      check=False)
    assert result.returncode == 2
    assert '--run-by-run trains one run at a time; it cannot take --parallel 2' in result.stderr


def test_sigterm_stops_the_trainings_it_started(study, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [str(a) for a in study['args']]
    args[args.index('--work-root') + 1] = str(tmp_path / 'runs')
    args[args.index('train_cfg.max_epochs=1')] = 'train_cfg.max_epochs=100'
    out = tmp_path / 'study.out'
    with open(out, 'w') as f:
        proc = subprocess.Popen([sys.executable] + args + ['--stages', 'train'], cwd=REPO,
                                stdout=f, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED='1'))
    deadline = time.time() + 120
    pids = []
    while len(pids) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        pids = [int(p) for p in re.findall(r': pid (\d+),', out.read_text())]
    assert len(pids) == 2, out.read_text()[-3000:]
    log = tmp_path / 'runs' / 'det-ghost_1e_synthetic' / 'train.log'
    while not (log.is_file() and 'Epoch(train)' in log.read_text()) and time.time() < deadline:
        time.sleep(0.5)  # really training, not starting up
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    run = tmp_path / 'runs' / 'det-ghost_1e_synthetic'
    assert not (run / 'train_done.json').exists()
    attempt = json.loads((run / 'train_time.json').read_text())[-1]
    assert attempt['end'] > attempt['start']  # the time it did spend is counted


def test_time_limit_stops_the_stages_packs_and_says_what_is_left(study, tmp_path):
    import os

    args = [str(a) for a in study['args']]
    args[args.index('--work-root') + 1] = str(tmp_path / 'runs')
    args[args.index('train_cfg.max_epochs=1')] = 'train_cfg.max_epochs=100'
    pack = tmp_path / 'out' / 'runs.tar.gz'
    result = run_tool(args[:1] + ['--time-limit', '30', '--pack', str(pack)] + args[1:],
                      timeout=300, check=False)
    assert result.returncode == 3, result.stderr[-3000:]
    stopped = re.search(r'time limit: stopped after (\d+) s \(--time-limit 30\); what was '
                        r'saved stays: run the same command again to go on', result.stdout)
    assert stopped and 30 <= int(stopped.group(1)) < 90  # the children's stop is counted too
    assert ('done: train 0/2, test 0/2, measure 0/2. Left to do: train: all 2; test: all 2; '
            'measure: all 2.') in result.stdout
    assert 'Traceback' not in result.stderr
    assert not (tmp_path / 'runs' / 'det-ghost_1e_synthetic' / 'train_done.json').exists()
    for pid in [int(p) for p in re.findall(r': pid (\d+),', result.stdout)]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the trainings it started are stopped
    import tarfile
    with tarfile.open(pack) as tar:
        assert {'det-ghost_1e_synthetic/train_time.json',
                'det-mnv3_1e_synthetic/train.log'} <= set(tar.getnames())
    assert 'packed 2 run(s) without checkpoints' in result.stdout


def test_a_time_limit_too_short_for_one_step_says_so(study, tmp_path):
    """0.05 s, well under one measure (with 0.5 s, one CI run measured the run in time)."""
    import shutil
    for run in study['runs']:
        shutil.copytree(run, tmp_path / 'runs' / run.name)
    (tmp_path / 'runs' / study['runs'][0].name / 'measure.json').unlink()
    args = [str(a) for a in study['args']]
    args[args.index('--work-root') + 1] = str(tmp_path / 'runs')
    result = run_tool(args[:1] + ['--stages', 'measure', '--time-limit', '0.05'] + args[1:],
                      check=False)
    assert result.returncode == 3, result.stderr[-3000:]
    assert ('warning: this call finished nothing and saved no checkpoint: a step takes longer '
            'than --time-limit 0.05 s; raise it') in result.stdout
    assert 'done: measure 1/2. Left to do: measure: det-ghost_1e_synthetic.' in result.stdout


def test_time_limit_must_be_positive(tmp_path):
    result = run_tool([REPO / 'tools/study.py', QUICKSTART, '--time-limit', '0'], check=False)
    assert result.returncode == 2
    assert result.stderr.endswith(
        'error: argument --time-limit: must be a positive number, but got 0\n')


def test_missing_data_is_a_one_line_error(tmp_path):
    config = tmp_path / 'nodata_1e_synthetic.py'
    config.write_text(f"_base_ = '{QUICKSTART}'\n")
    result = run_tool([REPO / 'tools/study.py', config, '--work-root', tmp_path / 'runs',
                       '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path}/none/'],
                      check=False)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert (f'error: {config}: train_dataloader.dataset.ann_file (annotation file) not found: '
            f'{tmp_path}/none/annotations/train.json') in result.stderr
