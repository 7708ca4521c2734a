"""tools/train.py, test.py, demo.py, dist_train.sh and dist_test.sh on a tiny synthetic
dataset, run as a user runs them (subprocesses), including the reliability cases: a run killed
with SIGKILL resumes without losing or adding iterations, a NaN loss stops with the iteration
named, and a checkpoint of another architecture is refused with its keys listed."""
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ghostdet.datasets import make_synthetic_coco
from tests.helpers import REPO, free_port

CONFIG = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
ITERS_PER_EPOCH = 4  # 16 training images, batch 4
EPOCHS = 2


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_coco(root, num_train=16, num_val=4, num_test=4, seed=0)
    return str(root) + '/'


def options(data_root, **extra):
    opts = {
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'val_evaluator.ann_file': data_root + 'annotations/val.json',
        'test_evaluator.ann_file': data_root + 'annotations/test.json',
        'train_dataloader.batch_size': 4,
        'train_cfg.max_epochs': EPOCHS,
        'train_cfg.val_interval': 100,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.checkpoint.max_keep_ckpts': 10,
        'default_hooks.logger.interval': 1,
    }
    opts.update(extra)
    return ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]


def run_tool(args, timeout=300, check=True, cwd=REPO, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable] + [str(a) for a in args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f'{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result


def checkpoint_iter(path) -> int:
    return torch.load(path, map_location='cpu', weights_only=True)['meta']['iter']


def load_predictions(path) -> list:
    with open(path, 'rb') as f:
        return pickle.load(f)  # our own test.py --out file


def assert_same_top_scores(results: list, reference: list, top: int = 20) -> None:
    """Two ``test.py --out`` lists hold the same images in the same order and, per image, the
    same ``top`` highest scores (within 1e-4)."""
    assert [r['img_id'] for r in results] == [r['img_id'] for r in reference]
    for result, expected in zip(results, reference):
        scores = result['pred_instances']['scores'].sort(descending=True).values[:top]
        wanted = expected['pred_instances']['scores'].sort(descending=True).values[:top]
        assert len(scores) == len(wanted) == top
        assert torch.allclose(scores, wanted, atol=1e-4)


@pytest.fixture(scope='module')
def trained(data_root, tmp_path_factory):
    """An uninterrupted run: the reference for the others."""
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir] + options(data_root))
    return work_dir


def test_uninterrupted_training_writes_iteration_checkpoints(trained):
    final = trained / f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth'
    assert final.exists()
    assert checkpoint_iter(final) == EPOCHS * ITERS_PER_EPOCH
    assert (trained / 'iter_2.pth').exists()  # every 2 iterations, inside the epoch too
    # a run from iteration 0 puts back no random state, and does not miss one
    log = ''.join(p.read_text() for p in trained.glob('*/*.log'))
    assert 'Epoch(train) [2]' in log.replace('  ', ' ') and 'random state' not in log


def test_sigkill_mid_epoch_then_resume_finishes_with_the_same_iterations(data_root, trained,
                                                                         tmp_path):
    """... and the very weights of the uninterrupted run (the checkpoint keeps the random state
    of the flips: ``RandomStateHook``), and with each epoch's logged loss the mean of exactly
    that epoch's iterations, as the BCCD configs log it (``window_size='epoch'``) and the
    study's learning curves read it: the resumed loop keeps the epoch's batch numbering and the
    checkpoint keeps the loss history."""
    from ghostdet.study.logs import read_training_log
    from ghostdet.study.report import log_curves
    from ghostdet.utils.checkpoint import load_local_checkpoint
    config = tmp_path / 'epoch_loss.py'
    config.write_text(f'_base_ = {CONFIG!r}\nlog_processor = dict(custom_cfg=[dict('
                      "data_src='loss', method_name='mean', window_size='epoch')])\n")
    work_dir = tmp_path / 'killed'
    log = tmp_path / 'train.log'  # both runs' output, as the study's train.log keeps it
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir)]
            + options(data_root), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    mid_epoch_ckpt = work_dir / f'iter_{ITERS_PER_EPOCH + 2}.pth'  # epoch 2, batch 2 of 4
    deadline = time.time() + 240
    while not mid_epoch_ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert mid_epoch_ckpt.exists(), 'the run ended before its mid-epoch checkpoint'
    assert not (work_dir / f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth').exists()
    saved = sorted(work_dir.glob('iter_*.pth'), key=lambda p: int(p.stem.split('_')[1]))
    last_saved_iter = checkpoint_iter(saved[-1])

    result = run_tool(['tools/train.py', config, '--work-dir', work_dir, '--resume']
                      + options(data_root))
    resumed = result.stdout + result.stderr
    with open(log, 'a') as out:
        out.write(resumed)
    assert f'iteration {last_saved_iter}' in resumed or last_saved_iter % ITERS_PER_EPOCH == 0
    final = work_dir / f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth'
    assert checkpoint_iter(final) == EPOCHS * ITERS_PER_EPOCH
    assert not list(work_dir.glob(f'iter_{EPOCHS * ITERS_PER_EPOCH + 1}*.pth'))
    assert 'holds no random state' not in resumed
    assert_same_weights(final, trained / final.name)
    # the resumed run trained only the iterations after the checkpoint
    trained_iters = [line for line in resumed.splitlines() if 'Epoch(train)' in line]
    assert len(trained_iters) == EPOCHS * ITERS_PER_EPOCH - last_saved_iter
    # one loss per iteration trained, none replayed or lost, and each epoch's curve point is
    # the mean of its own iterations (the log prints 4 decimals)
    history = load_local_checkpoint(str(final), map_location='cpu')[
        'message_hub']['log_scalars']['train/loss']._log_history
    assert len(history) == EPOCHS * ITERS_PER_EPOCH
    curve, _ = log_curves(log)
    assert sorted(curve) == list(range(1, EPOCHS + 1))
    for epoch in curve:
        iters = history[(epoch - 1) * ITERS_PER_EPOCH:epoch * ITERS_PER_EPOCH]
        assert curve[epoch] == pytest.approx(float(iters.mean()), abs=6e-5), epoch
    # analyze_logs joins the two starts: each iteration once, the resumed start's where both
    # logged it (iterations after the checkpoint that the killed start had reached)
    result = run_tool(['tools/analysis/analyze_logs.py', 'plot_curve', work_dir])
    assert f'{EPOCHS * ITERS_PER_EPOCH} logged iterations, 1 validation, 2 starts joined' \
        in result.stdout
    assert (work_dir / 'curves.png').stat().st_size > 0
    assert logged_losses(read_training_log(work_dir)) == pytest.approx(
        text_log_losses(log.read_text()), abs=6e-5)


def assert_same_weights(checkpoint, reference) -> None:
    weights = torch.load(checkpoint, map_location='cpu', weights_only=True)['state_dict']
    expected = torch.load(reference, map_location='cpu', weights_only=True)['state_dict']
    assert weights.keys() == expected.keys()
    different = [k for k in weights if not torch.equal(weights[k], expected[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'


def test_resume_at_the_end_of_an_epoch_trains_the_uninterrupted_weights(data_root, trained,
                                                                        tmp_path):
    """From a checkpoint saved by iteration at an epoch's last batch (meta: epoch 0, iteration
    4): the loop has only the epoch's end to run, and no batch to load."""
    work_dir = tmp_path / 'boundary'
    work_dir.mkdir()
    start = work_dir / f'iter_{ITERS_PER_EPOCH}.pth'
    start.write_bytes((trained / start.name).read_bytes())
    result = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir, '--resume', start]
                      + options(data_root))
    log = result.stdout + result.stderr
    assert 'resuming at the end of epoch 1 (iteration 4)' in log
    assert 'skipping its first' not in log
    assert len(re.findall(r'Epoch\(train\)', log)) == ITERS_PER_EPOCH  # epoch 2 only
    assert_same_weights(work_dir / f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth',
                        trained / f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth')


def test_resume_from_an_epoch_checkpoint_trains_the_uninterrupted_weights(data_root, trained,
                                                                          tmp_path):
    """``CheckpointHook(by_epoch=True)`` saves after the epoch's scheduler step, with the epoch
    counted (meta: epoch 1): the resumed loop starts epoch 2 from the state saved then."""
    by_epoch = {'default_hooks.checkpoint.by_epoch': True,
                'default_hooks.checkpoint.interval': 1}
    run_tool(['tools/train.py', CONFIG, '--work-dir', tmp_path / 'a']
             + options(data_root, **by_epoch))
    first = torch.load(tmp_path / 'a' / 'epoch_1.pth', map_location='cpu', weights_only=True)
    assert (first['meta']['epoch'], first['meta']['iter']) == (1, ITERS_PER_EPOCH)
    (tmp_path / 'b').mkdir()
    (tmp_path / 'b' / 'epoch_1.pth').write_bytes((tmp_path / 'a' / 'epoch_1.pth').read_bytes())
    result = run_tool(['tools/train.py', CONFIG, '--work-dir', tmp_path / 'b', '--resume',
                       tmp_path / 'b' / 'epoch_1.pth'] + options(data_root, **by_epoch))
    assert len(re.findall(r'Epoch\(train\)', result.stdout + result.stderr)) == ITERS_PER_EPOCH
    assert_same_weights(tmp_path / 'b' / 'epoch_2.pth', tmp_path / 'a' / 'epoch_2.pth')
    # and training by epoch or by iteration checkpoints is the same training
    assert_same_weights(tmp_path / 'a' / 'epoch_2.pth',
                        trained / f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth')


def test_resume_from_a_checkpoint_without_random_state_says_so(data_root, trained, tmp_path):
    """A checkpoint saved before ghostdet kept the random state still resumes."""
    work_dir = tmp_path / 'old'
    work_dir.mkdir()
    start = work_dir / 'iter_6.pth'
    checkpoint = torch.load(trained / start.name, map_location='cpu', weights_only=True)
    assert checkpoint.pop('random_states')['torch'].dtype == torch.uint8
    torch.save(checkpoint, start)
    result = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir, '--resume', start]
                      + options(data_root))
    assert 'the checkpoint holds no random state' in result.stdout + result.stderr
    assert checkpoint_iter(work_dir / f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth') == 8


def test_resume_with_another_batch_size_trains_every_batch_left(data_root, trained, tmp_path):
    """Batch 8 instead of the checkpoint's 4: 2 batches per epoch instead of 4. The loop had
    taken iteration 8 (the end of epoch 2) for the end of epoch 3 too, trained nothing, and
    said that no iteration was left; from inside epoch 2 (iteration 6) it skipped the rest of
    it. Now the next epoch is trained whole, and the interrupted one again from its first
    batch; and a run resumed from such a run, whose iterations are no multiple of either
    length, starts at the right batch too (``TrainPositionHook``)."""
    def resume(name, source, epochs):
        work_dir = tmp_path / name
        work_dir.mkdir()
        (work_dir / source.name).write_bytes(source.read_bytes())
        result = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir, '--resume']
                          + options(data_root, **{'train_dataloader.batch_size': 8,
                                                  'train_cfg.max_epochs': epochs}))
        log = result.stdout + result.stderr
        assert 'no training iteration is left' not in log
        return work_dir, log, re.findall(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]', log)

    longer, log, batches = resume('longer', trained / 'iter_8.pth', EPOCHS + 1)
    assert ('the checkpoint was saved with 4 training batches per epoch and this run has 2 (the '
            'batch size, the number of processes or the training set changed): epoch 3 starts '
            'at its first batch') in log
    assert batches == [('3', '1', '2'), ('3', '2', '2')]
    final = torch.load(longer / 'iter_10.pth', map_location='cpu', weights_only=True)
    assert final['meta']['iter'] == 10
    assert final['train_position'] == dict(epoch=2, epoch_start_iter=8, batches_per_epoch=2)

    _, log, batches = resume('again', longer / 'iter_10.pth', EPOCHS + 2)
    assert 'training batches per epoch' not in log
    assert batches == [('4', '1', '2'), ('4', '2', '2')]

    _, log, batches = resume('inside', trained / 'iter_6.pth', EPOCHS)
    assert ('epoch 2 starts again at its first batch (its 2 batches trained before the '
            'checkpoint are trained again, in batches of the new size)') in log
    assert batches == [('2', '1', '2'), ('2', '2', '2')]


def logged_losses(log) -> dict:
    return {r['iter']: r['loss'] for r in log.train}


def text_log_losses(text: str) -> dict:
    """Each iteration's ``loss:`` in mmengine's text log, the last line winning (logger
    interval 1)."""
    losses = {}
    for epoch, batch, loss in re.findall(
            r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/\d+\].*?\sloss: ([\d.]+)', text):
        losses[(int(epoch) - 1) * ITERS_PER_EPOCH + int(batch)] = float(loss)
    return losses


def test_analyze_logs_reads_what_the_run_logged(trained, tmp_path):
    from ghostdet.study.logs import read_training_log
    out = tmp_path / 'curves.png'
    result = run_tool(['tools/analysis/analyze_logs.py', 'plot_curve', trained, '--keys', 'loss',
                       'lr', '--legend', 'tiny', '--out', out])
    # val_interval 100: the loop validates the last epoch only (no box scores 0.05 yet, so the
    # validation logs its time and no mAP)
    assert f'tiny: {EPOCHS * ITERS_PER_EPOCH} logged iterations, 1 validation\n' in result.stdout
    assert f'wrote {out}' in result.stdout and out.stat().st_size > 0
    text = ''.join(p.read_text() for p in sorted(trained.glob('*/*.log')))
    log = read_training_log(trained)
    assert sorted(logged_losses(log)) == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    assert logged_losses(log) == pytest.approx(text_log_losses(text), abs=6e-5)
    result = run_tool(['tools/analysis/analyze_logs.py', 'cal_train_time', trained])
    assert f'-----Analyze train time of {trained.name}-----' in result.stdout
    assert re.search(r'slowest epoch [12], average time is [\d.]+ s/iter', result.stdout)
    # 3 of each epoch's 4 iterations: the first is left out
    assert re.search(rf'over {EPOCHS * (ITERS_PER_EPOCH - 1)} logged iterations, \d+% of it '
                     'waiting for data', result.stdout)
    result = run_tool(['tools/analysis/analyze_logs.py', 'plot_curve', trained, '--keys', 'acc'],
                      check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no run logged 'acc'; logged: lr, ")


def test_resume_takes_the_configs_schedule_and_says_when_nothing_is_left(data_root, trained,
                                                                        tmp_path):
    """``train.py --resume`` wires ``ResumeScheduleHook``: a finished run resumed says so; one
    resumed for a third epoch at half the rate trains it at half the rate of the same resume
    at the checkpoint's rate (mmengine alone kept the checkpoint's in both; the schedule's
    arithmetic is tested in tests/test_engine/test_hooks.py)."""
    last = f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth'

    def resume(name, **extra):
        work_dir = tmp_path / name
        work_dir.mkdir()
        (work_dir / last).write_bytes((trained / last).read_bytes())
        result = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir, '--resume']
                          + options(data_root, **extra))
        log = result.stdout + result.stderr
        lrs = re.findall(r'Epoch\(train\) \[3\]\[\s*\d/4\]\s+lr: (\S+)', log)
        return log, [float(lr) for lr in lrs]

    log, _ = resume('finished')
    assert (f'the checkpoint is at iteration {EPOCHS * ITERS_PER_EPOCH}, the last of '
            f'train_cfg.max_epochs={EPOCHS} epochs: no training iteration is left') in log
    # a third epoch, the cosine ending there and (so that rates scale) at 0
    longer = {'train_cfg.max_epochs': EPOCHS + 1, 'param_scheduler.1.end': EPOCHS + 1,
              'param_scheduler.1.eta_min': 0}
    same_log, same = resume('same_rate', **longer)
    half_log, half = resume('half_rate', **longer, **{'optim_wrapper.optimizer.lr': 1e-3})
    assert ("resuming with the config's settings where they differ from the checkpoint's "
            '(which mmengine would keep): param_scheduler.1.T_max 12 -> 3, '
            'param_scheduler.1.eta_min 0.0001 -> 0, param_scheduler.1.end 12 -> 3; from the '
            'resumed step on') in same_log
    assert 'optimizer lr 0.002 -> 0.001 (where it stands, times 0.5)' in half_log
    assert len(same) == len(half) == ITERS_PER_EPOCH
    assert half == pytest.approx([lr / 2 for lr in same], rel=2e-3)  # logged to 5 digits


def test_nan_loss_stops_with_the_iteration_and_keeps_the_last_good_checkpoint(
        data_root, trained, tmp_path):
    work_dir = tmp_path / 'nan'
    work_dir.mkdir()
    good = work_dir / 'iter_4.pth'
    good.write_bytes((trained / 'iter_4.pth').read_bytes())
    result = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir, '--resume', good]
                      + options(data_root, **{'model.bbox_head.loss_cls.loss_weight': 'nan'}),
                      check=False)
    assert result.returncode != 0
    assert 'FloatingPointError: loss is nan at iteration 5' in result.stderr
    assert 'last good checkpoint' in result.stderr
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_4.pth']


def test_checkpoint_of_another_architecture_is_refused_with_its_keys(data_root, tmp_path):
    from ghostdet.models import MobileNetV3
    other = tmp_path / 'mobilenetv3_detector.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in MobileNetV3('small').state_dict().items()}}, other)
    result = run_tool(['tools/train.py', CONFIG, '--work-dir', tmp_path / 'w']
                      + options(data_root, load_from=other), check=False)
    assert result.returncode != 0
    assert 'CheckpointMismatchError' in result.stderr
    assert 'missing from the checkpoint' in result.stderr
    assert 'backbone.conv_stem.weight' in result.stderr
    assert 'unexpected in the checkpoint' in result.stderr
    assert 'backbone.features.0.conv.weight' in result.stderr


@pytest.fixture(scope='module')
def tested(data_root, trained, tmp_path_factory):
    """``tools/test.py --out --show-dir`` on the uninterrupted run: (its log, results.pkl,
    the pictures' folder)."""
    tmp_path = tmp_path_factory.mktemp('tested')
    out = tmp_path / 'results.pkl'
    show_dir = tmp_path / 'vis'
    result = run_tool(['tools/test.py', CONFIG, trained / 'iter_8.pth', '--work-dir',
                       tmp_path / 'w', '--out', out, '--show-dir', show_dir]
                      # 8 iterations of training: keep every box so that COCO has some to score
                      + options(data_root, **{'model.test_cfg.score_thr': 0.0}))
    return result.stdout + result.stderr, out, show_dir


def test_test_tool_prints_coco_metrics_and_writes_results_and_pictures(tested):
    log, out, show_dir = tested
    assert 'coco/bbox_mAP:' in log and 'coco/bbox_mAP_50:' in log
    assert '4/4' in log  # the progress bar reached every test image
    raw = load_predictions(out)
    assert len(raw) == 4 and 'pred_instances' in raw[0]
    assert len(list(show_dir.rglob('*.jpg'))) == 4


def test_test_tool_fuse_conv_bn_tests_the_folded_model(data_root, trained, tested, tmp_path):
    """The wiring: the hook folds the loaded model before the test loop and the run completes
    with predictions for every image. Whether a fold keeps the outputs is tested on a model
    with random BatchNorm statistics (tests/test_engine/test_hooks.py): this 8-iteration
    model's scores all sit near the focal-loss prior, so they cannot show it."""
    out = tmp_path / 'folded.pkl'
    result = run_tool(['tools/test.py', CONFIG, trained / 'iter_8.pth', '--work-dir',
                       tmp_path / 'w', '--out', out, '--fuse-conv-bn']
                      + options(data_root, **{'model.test_cfg.score_thr': 0.0}))
    log = result.stdout + result.stderr
    assert 'folded 80 BatchNorm layers into the convolutions' in log
    assert log.index('folded 80 BatchNorm') < log.index('bbox_mAP_copypaste')
    folded = load_predictions(out)
    assert len(folded) == 4
    assert_same_top_scores(folded, load_predictions(tested[1]))


def test_test_tool_inference_options_test_the_model_as_it_runs_with_them(data_root, trained,
                                                                        tested, tmp_path):
    """The wiring of --channels-last (with --fuse-conv-bn): one hook folds, changes the
    layout and checks both before the test loop, and the predictions keep their scores."""
    out = tmp_path / 'options.pkl'
    result = run_tool(['tools/test.py', CONFIG, trained / 'iter_8.pth', '--work-dir',
                       tmp_path / 'w', '--out', out, '--fuse-conv-bn', '--channels-last']
                      + options(data_root, **{'model.test_cfg.score_thr': 0.0}))
    log = result.stdout + result.stderr
    said = 'inference options: fuse_bn + channels_last; 80 BatchNorm layers folded'
    assert said in log and log.index(said) < log.index('bbox_mAP_copypaste')
    assert 'folded 80 BatchNorm layers into the convolutions' not in log  # folded once
    assert_same_top_scores(load_predictions(out), load_predictions(tested[1]))


def test_test_tool_tta_merges_each_image_with_its_flip_flipped_back(data_root, trained, tested,
                                                                   tmp_path):
    """``--tta`` (the quickstart config drops mmdet's COCO-scale one: each image and its
    left-right flip). Every box it keeps is a box of the plain test of the image or, flipped
    back, of the plain test of the flipped image (written losslessly, so the two see the same
    pixels), with its score and class; some come from the flip. The checkpoint's keys and the
    head's classes are checked inside the augmentation model too."""
    import cv2
    import numpy as np
    flipped_root = tmp_path / 'flipped'
    (flipped_root / 'images').mkdir(parents=True)
    coco = json.loads(Path(data_root, 'annotations/test.json').read_text())
    for image in coco['images']:
        pixels = cv2.imread(str(Path(data_root, 'images', image['file_name'])))
        image['file_name'] = Path(image['file_name']).with_suffix('.png').name
        cv2.imwrite(str(flipped_root / 'images' / image['file_name']), pixels[:, ::-1])
    (flipped_root / 'annotations').mkdir()
    (flipped_root / 'annotations/test.json').write_text(json.dumps(coco))
    keep_all = {'model.test_cfg.score_thr': 0.0}
    run_tool(['tools/test.py', CONFIG, trained / 'iter_8.pth', '--work-dir', tmp_path / 'w',
              '--out', tmp_path / 'flipped.pkl']
             + options(data_root, **keep_all, **{
                 'test_dataloader.dataset.data_root': f'{flipped_root}/',
                 'test_evaluator.ann_file': f'{flipped_root}/annotations/test.json'}))
    result = run_tool(['tools/test.py', CONFIG, trained / 'iter_8.pth', '--work-dir',
                       tmp_path / 'w', '--out', tmp_path / 'tta.pkl', '--tta']
                      + options(data_root, **keep_all))
    assert ('testing with test-time augmentation: each test image as it is and flipped '
            'left-right, their boxes merged by NMS at IoU 0.5, 100 per image (DetTTAModel)'
            in result.stdout)
    assert 'coco/bbox_mAP:' in result.stdout + result.stderr
    plain, flips, merged = (load_predictions(p) for p in (tested[1], tmp_path / 'flipped.pkl',
                                                          tmp_path / 'tta.pkl'))
    assert [r['img_id'] for r in merged] == [r['img_id'] for r in plain] == [
        r['img_id'] for r in flips]
    from_flip = 0
    for view, flip, result in zip(plain, flips, merged):
        width = view['ori_shape'][1]
        back = flip['pred_instances']['bboxes'].clone()
        back[:, 0], back[:, 2] = width - flip['pred_instances']['bboxes'][:, 2], \
            width - flip['pred_instances']['bboxes'][:, 0]
        boxes = np.concatenate([view['pred_instances']['bboxes'].numpy(), back.numpy()])
        scores, labels = (np.concatenate([view['pred_instances'][k], flip['pred_instances'][k]])
                          for k in ('scores', 'labels'))
        kept = result['pred_instances']
        assert 0 < len(kept['scores']) <= 100
        for box, score, label in zip(kept['bboxes'].numpy(), kept['scores'], kept['labels']):
            same = ((np.abs(boxes - box).max(1) < 1e-2) & (np.abs(scores - float(score)) < 1e-5)
                    & (labels == int(label)))
            assert same.any(), (box, score, label)
            from_flip += not same[:len(view['pred_instances']['scores'])].any()
    assert from_flip > 0


def test_distributed_test_two_processes_gloo_matches_one_process(data_root, trained, tested,
                                                                 tmp_path):
    """``tools/dist_test.sh`` over 2 processes, with the BatchNorms folded inside the DDP
    wrapper, on 3 images: the sampler pads rank 1 with a repeat of image 0, and the gathered
    results must drop it and keep the dataset's order, equal to the one-process run's. Run
    from another folder, its relative paths are taken from there, as ``tools/test.py``'s."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=free_port())
    result = subprocess.run(
        ['bash', str(REPO / 'tools/dist_test.sh'), CONFIG, str(trained / 'iter_8.pth'), '2',
         '--work-dir', 'w', '--out', 'dist.pkl', '--fuse-conv-bn']
        + options(data_root, **{'model.test_cfg.score_thr': 0.0,
                                'test_dataloader.dataset.indices': 3}),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / 'dist.pkl'
    assert out.is_file() and (tmp_path / 'w').is_dir()
    log = result.stdout + result.stderr
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert 'folded 80 BatchNorm layers into the convolutions' in log
    assert 'bbox_mAP_copypaste' in log
    assert_same_top_scores(load_predictions(out), load_predictions(tested[1])[:3])


@pytest.fixture(scope='module')
def exported(trained, tmp_path_factory):
    """``tools/deployment/pytorch2onnx.py`` on the uninterrupted run: (its log, the file)."""
    out = tmp_path_factory.mktemp('onnx') / 'model.onnx'
    result = run_tool(['tools/deployment/pytorch2onnx.py', CONFIG, trained / 'iter_8.pth',
                       '--out', out, '--shape', '128', '160'])
    return result.stdout + result.stderr, out


def test_export_tool_writes_a_checked_onnx_file(exported):
    log, out = exported
    assert f'wrote {out}' in log and 'outputs cls_scores x5, bbox_preds x5' in log
    assert re.search(r'MB, opset \d+\): input img \(N, 3, H, W\)', log)
    assert 'checked in onnxruntime on another shape and batch size' in log
    assert out.stat().st_size > 1_000_000  # the weights are inside


def test_test_and_demo_tools_run_the_onnx_file(data_root, tested, exported, tmp_path):
    """``tools/test.py CONFIG model.onnx`` evaluates the file in onnxruntime (the head decodes
    in Python) with the config's pipeline and metric, and gives the checkpoint's predictions;
    ``tools/demo.py`` labels its boxes with the class names kept in the file."""
    out = tmp_path / 'onnx.pkl'
    result = run_tool(['tools/test.py', CONFIG, exported[1], '--work-dir', tmp_path / 'w',
                       '--out', out] + options(data_root, **{'model.test_cfg.score_thr': 0.0}))
    assert 'coco/bbox_mAP:' in result.stdout + result.stderr
    onnx = load_predictions(out)
    assert len(onnx) == 4
    assert_same_top_scores(onnx, load_predictions(tested[1]))
    # each of the 200 detections (50 an image) has a twin of the same class, score and box
    result = run_tool(['tools/analysis/compare_predictions.py', tested[1], out])
    assert 'detections: 200 in results.pkl, 200 in onnx.pkl' in result.stdout
    assert 'without a twin: 0 in results.pkl, 0 in onnx.pkl' in result.stdout, result.stdout
    # a detection without a twin is excused as a tie "at the cut" where its score is within the
    # tolerance of the lowest kept one: all but a few ties at the 50th box must have a twin
    twins = re.search(r'twins \(.*\): (\d+);', result.stdout)
    assert twins and int(twins.group(1)) >= 190, result.stdout
    run_tool(['tools/demo.py', Path(data_root) / 'images', CONFIG, exported[1], '--out-dir',
              tmp_path / 'demo'])
    assert len(json.loads((tmp_path / 'demo' / 'predictions.json').read_text())) == 24
    assert len(list((tmp_path / 'demo' / 'vis').iterdir())) == 24
    # the 8-iteration model's scores sit below the config's score_thr: look at the labels here
    from ghostdet.deployment import init_onnx_detector
    model = init_onnx_detector(CONFIG, str(exported[1]))
    assert model.dataset_meta['classes'] == ('circle', 'square', 'triangle')  # from the file


def test_distributed_test_runs_the_onnx_file(data_root, tested, exported, tmp_path):
    """``tools/dist_test.sh`` with the ONNX file: each process runs it in onnxruntime on
    its share, and the gathered results are the checkpoint's."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=free_port())
    result = subprocess.run(
        ['bash', str(REPO / 'tools/dist_test.sh'), CONFIG, str(exported[1]), '2', '--work-dir',
         'w', '--out', 'dist_onnx.pkl']
        + options(data_root, **{'model.test_cfg.score_thr': 0.0,
                                'test_dataloader.dataset.indices': 3}),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log and 'bbox_mAP_copypaste' in log
    assert_same_top_scores(load_predictions(tmp_path / 'dist_onnx.pkl'),
                           load_predictions(tested[1])[:3])


def test_quantize_tool_writes_an_int8_file_that_test_py_evaluates(data_root, exported,
                                                                   tmp_path):
    """``tools/deployment/quantize_onnx.py`` calibrates on the training split through the
    test pipeline, and ``tools/test.py`` evaluates the int8 file like the float one."""
    out = tmp_path / 'int8.onnx'
    result = run_tool(['tools/deployment/quantize_onnx.py', CONFIG, exported[1], '--out', out,
                       '--images', '4'] + options(data_root))
    log = result.stdout + result.stderr
    assert 'calibration: 4/4 images' in log and f'wrote {out} (' in log
    assert 'calibrated on 4 images' in log and 'differ from the float file\'s by up to' in log
    predictions = tmp_path / 'int8.pkl'
    result = run_tool(['tools/test.py', CONFIG, out, '--work-dir', tmp_path / 'w', '--out',
                       predictions] + options(data_root, **{'model.test_cfg.score_thr': 0.0}))
    assert 'coco/bbox_mAP:' in result.stdout + result.stderr
    assert len(load_predictions(predictions)) == 4
    wrong = REPO / 'configs/mobilenetv3/retinanet_mobilenetv3-large_fpn_1x_coco.py'
    cases = [
        (['tools/deployment/quantize_onnx.py', CONFIG, tmp_path / 'none.onnx', '--out', out],
         f'error: ONNX model not found: {tmp_path}/none.onnx'),
        (['tools/deployment/quantize_onnx.py', wrong, exported[1], '--out', tmp_path / 'w.onnx'],
         "but the config builds a {'head': 'RetinaHead', 'num_classes': 80}"),
        (['tools/deployment/quantize_onnx.py', CONFIG, out, '--out', tmp_path / 'again.onnx']
         + options(data_root), f'error: {out} is already quantized (int8 weights)'),
        (['tools/deployment/quantize_onnx.py', CONFIG, exported[1], '--out', out, '--split',
          'val', '--image-dir', data_root], 'argument --image-dir: not allowed with argument '
         '--split'),
        (['tools/deployment/quantize_onnx.py', CONFIG, exported[1], '--out', tmp_path / 's.onnx',
          '--images', '1', '--op-types', 'Conv', 'Softmax'] + options(data_root),
         f'error: no Softmax operator in {exported[1]} (after BatchNorm folding); it has: '),
    ]
    for args, message in cases:
        result = run_tool(args, check=False)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert 'Traceback' not in result.stderr and message in result.stderr, args


def test_test_refuses_a_checkpoint_of_another_architecture(data_root, trained, tmp_path):
    """A config without CheckpointKeysHook (as mmdet's are): before, the matching weights were
    loaded, the rest left random, and a meaningless mAP printed."""
    config = tmp_path / 'no_hooks.py'
    config.write_text(f"_base_ = '{CONFIG}'\ncustom_hooks = []\n")
    result = run_tool(['tools/test.py', config, trained / 'iter_8.pth', '--work-dir',
                       tmp_path / 'work']
                      + options(data_root, **{'model.bbox_head.stacked_convs': 3}), check=False)
    assert result.returncode == 1 and 'bbox_mAP' not in result.stdout
    assert (f'CheckpointMismatchError: checkpoint {trained / "iter_8.pth"} does not match '
            'RetinaNet') in result.stderr
    assert 'missing from the checkpoint (4): bbox_head.cls_convs.2.conv.weight' in result.stderr
    assert (tmp_path / 'work' / 'no_hooks.py').is_file()  # not the checkout's work_dirs/


def test_export_and_onnx_mistakes_are_one_line_errors(trained, exported, tmp_path):
    from ghostdet.models import MobileNetV3
    faster = REPO / 'configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py'
    other = tmp_path / 'mobilenetv3.pth'  # weights of another architecture
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in MobileNetV3('small').state_dict().items()}}, other)
    cases = [
        (['tools/deployment/pytorch2onnx.py', CONFIG, other, '--out', tmp_path / 'o.onnx'],
         f'error: {other} does not match RetinaNet'),
        (['tools/deployment/pytorch2onnx.py', CONFIG, trained / 'iter_8.pth', '--out',
          tmp_path / 'model.pt'], f'error: the output must be an .onnx file, got '
         f'{tmp_path}/model.pt'),
        (['tools/deployment/pytorch2onnx.py', faster, trained / 'iter_8.pth', '--out',
          tmp_path / 'f.onnx'], 'error: FasterRCNN is a two-stage detector'),
        (['tools/test.py', CONFIG, exported[1], '--fuse-conv-bn'],
         'error: --fuse-conv-bn folds a PyTorch model; an ONNX model is tested as it was '
         'exported'),
    ]
    for args, message in cases:
        result = run_tool(args, check=False)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert 'Traceback' not in result.stderr and message in result.stderr, args


def test_confusion_matrix_of_the_test_tools_predictions(data_root, tested, tmp_path):
    _, out, _ = tested
    result = run_tool(['tools/analysis/confusion_matrix.py', CONFIG, out, '--out-dir', tmp_path,
                       '--score-thr', '0', '--cfg-options',
                       f'test_dataloader.dataset.data_root={data_root}'])
    saved = json.loads((tmp_path / 'confusion_matrix.json').read_text())
    assert saved['rows'] == ['circle', 'square', 'triangle', 'background']
    counts = saved['counts']
    with open(Path(data_root) / 'annotations/test.json') as f:
        boxes = json.load(f)['annotations']
    assert sum(sum(row) for row in counts[:3]) == len(boxes)  # each box once
    detections = sum(len(r['pred_instances']['scores']) for r in load_predictions(out))
    assert sum(sum(row[:3]) for row in counts) == detections  # each detection once (score >= 0)
    assert '| ground truth \\ prediction | circle | square | triangle | missed | recall |' \
        in result.stdout
    assert (tmp_path / 'confusion_matrix.png').stat().st_size > 10_000


def test_demo_on_a_folder_writes_pictures_and_json(data_root, trained, tmp_path):
    images = Path(data_root) / 'images'
    out_dir = tmp_path / 'demo'
    run_tool(['tools/demo.py', images, CONFIG, trained / 'iter_8.pth', '--out-dir', out_dir,
              '--score-thr', '0.01'])
    predictions = json.loads((out_dir / 'predictions.json').read_text())
    assert len(predictions) == len(list(images.iterdir()))
    for pred in predictions:
        assert set(pred) >= {'image', 'boxes', 'labels', 'classes', 'scores'}
        assert len(pred['boxes']) == len(pred['scores']) == len(pred['classes'])
        assert all(s >= 0.01 for s in pred['scores'])
        assert set(pred['classes']) <= {'circle', 'square', 'triangle'}
    assert len(list((out_dir / 'vis').iterdir())) == len(predictions)


def test_demo_exit_code_says_an_image_was_unreadable(data_root, trained, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    shutil.copy(Path(data_root) / 'images' / 'test_00000.jpg', images)
    (images / 'empty.jpg').write_bytes(b'')
    result = run_tool(['tools/demo.py', images, CONFIG, trained / 'iter_8.pth', '--out-dir',
                       tmp_path / 'demo'], check=False)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert f'skipped: image file {images / "empty.jpg"} is empty (0 bytes)' in result.stderr
    assert len(json.loads((tmp_path / 'demo' / 'predictions.json').read_text())) == 1


def test_demo_stopped_with_sigterm_keeps_its_predictions(data_root, trained, tmp_path):
    """As a scheduler or ``timeout`` stops it: the detections made so far are written."""
    images = tmp_path / 'frames'
    images.mkdir()
    source = Path(data_root) / 'images' / 'test_00000.jpg'
    for i in range(300):  # far more than get done before the signal
        shutil.copy(source, images / f'{i:04d}.jpg')
    out_dir = tmp_path / 'demo'
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        [sys.executable, 'tools/demo.py', str(images), CONFIG, str(trained / 'iter_8.pth'),
         '--out-dir', str(out_dir)], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (out_dir / 'vis' / '0001.jpg').exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    predictions = json.loads((out_dir / 'predictions.json').read_text())
    assert 2 <= len(predictions) < 300
    assert f'stopped after {len(predictions)} of 300 images' in stdout


def test_demo_bad_input_is_named(data_root, trained, tmp_path):
    result = run_tool(['tools/demo.py', tmp_path / 'nothing_here', CONFIG,
                       trained / 'iter_8.pth'], check=False)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert f"error: no images found at '{tmp_path / 'nothing_here'}'" in result.stderr
    coco = REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py'
    result = run_tool(['tools/demo.py', data_root + 'images', coco, trained / 'iter_8.pth',
                       '--out-dir', tmp_path / 'demo'], check=False)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert (f"error: checkpoint {trained / 'iter_8.pth'} does not match RetinaNet"
            in result.stderr)
    assert not (tmp_path / 'demo').exists()


def test_train_and_test_name_a_model_that_does_not_fit_before_any_step(data_root, trained,
                                                                       tmp_path):
    """A neck that does not fit the backbone or a head that does not fit the neck (once a
    convolution's shape error in the first forward) and a head whose num_classes is not the
    dataset's (the config's NumClassesCheckHook): one error line each, where the Runner would
    have put the error at the end of a traceback after its config and environment dump (500
    lines)."""
    neck = {'model.neck.in_channels': '[24,40,960]'}
    neck_error = (f'error: {CONFIG}: model.neck.in_channels=[24, 40, 960], but the backbone '
                  '(GhostNet) outputs 3 feature maps of [40, 112, 960] channels')
    train = ['tools/train.py', CONFIG, '--work-dir', tmp_path]
    test = ['tools/test.py', CONFIG, trained / 'iter_8.pth', '--work-dir', tmp_path]
    cases = [
        (train, neck, neck_error),
        (test, neck, neck_error),
        (train, {'model.neck.out_channels': 32},  # a narrower neck, the head left at 64
         f'error: {CONFIG}: model.bbox_head.in_channels=64, but the neck (FPN) outputs 5 '
         'feature maps of [32, 32, 32, 32, 32] channels: set model.bbox_head.in_channels=32\n'),
        (train, {'model.bbox_head.num_classes': 5},
         f'error: {CONFIG}: model.bbox_head.num_classes=5 but train_dataloader.dataset '
         '(CheckedCocoDataset) has 3 classes (metainfo classes circle, square, triangle); set '
         'model.bbox_head.num_classes=3'),
        (test, {'test_dataloader.dataset.metainfo.classes': '[circle,square]'},
         f'error: {CONFIG}: model.bbox_head.num_classes=3 but test_dataloader.dataset '
         '(CheckedCocoDataset) has 2 classes'),
    ]
    for args, extra, message in cases:
        result = run_tool(args + options(data_root, **extra), check=False)
        assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr[-2000:]
        assert message in result.stderr
        assert 'Iter(train)' not in result.stdout and not list(tmp_path.glob('*.pth'))
        assert 'System environment' not in result.stdout  # no Runner was built


def test_bad_paths_and_options_are_one_line_errors(data_root, tmp_path):
    """A user's mistake is named on one line with exit code 2, before anything is built."""
    elsewhere = f'{tmp_path}/coco/'
    cases = [
        (['tools/train.py', CONFIG, '--cfg-options',
          f'train_dataloader.dataset.data_root={elsewhere}'],
         f'error: {CONFIG}: train_dataloader.dataset.ann_file (annotation file) not found: '
         f'{elsewhere}annotations/train.json; put the data there or point the config at it: '
         '--cfg-options train_dataloader.dataset.ann_file=... (or '
         'train_dataloader.dataset.data_root=... for all its files)'),
        # a validation image folder that is not there: found before the first epoch, not after
        (['tools/train.py', CONFIG] + options(
            data_root, **{'val_dataloader.dataset.data_prefix.img': 'nowhere/'}),
         f'error: {CONFIG}: val_dataloader.dataset.data_prefix.img (image folder) not found: '
         f'{data_root}nowhere/'),
        (['tools/train.py', CONFIG] + options(
            data_root, **{'model.backbone.init_cfg.type': 'Pretrained',
                          'model.backbone.init_cfg.checkpoint': 'checkpoints/none.pth'}),
         f'error: {CONFIG}: model.backbone.init_cfg.checkpoint not found: '
         'checkpoints/none.pth (a local path: nothing is downloaded for it'),
        (['tools/test.py', CONFIG, CONFIG] + options(
            data_root, **{'test_evaluator.ann_file': f'{tmp_path}/test.json'}),
         f'error: {CONFIG}: test_evaluator.ann_file (annotation file) not found: '
         f'{tmp_path}/test.json; put the data there or point the config at it: '
         '--cfg-options test_evaluator.ann_file=...\n'),
        (['tools/train.py', tmp_path / 'nope.py'],
         f'error: config file not found: {tmp_path}/nope.py'),
        # trained 12 epochs before, as if the option were not there
        (['tools/train.py', CONFIG, '--cfg-options', 'max_epochs=1'],
         'error: --cfg-options max_epochs=1 changes nothing: max_epochs is a variable of the '
         'config file'),
        (['tools/test.py', CONFIG, CONFIG, '--cfg-options', 'test_dataloder.batch_size=1'],
         'did you mean test_dataloader?'),
        (['tools/train.py', CONFIG, '--resume', tmp_path / 'nope.pth'],
         f'error: --resume checkpoint not found: {tmp_path}/nope.pth'),
        (['tools/test.py', CONFIG, tmp_path / 'nope.pth'],
         f'error: checkpoint not found: {tmp_path}/nope.pth'),
        (['tools/test.py', CONFIG, CONFIG, '--out', 'results.json'],
         'error: --out must be a .pkl file, got results.json'),
        (['tools/demo.py', REPO / 'docs/images', CONFIG, tmp_path / 'nope.pth'],
         f'error: checkpoint not found: {tmp_path}/nope.pth'),
    ]
    if not torch.cuda.is_available():
        cases.append((['tools/train.py', CONFIG, '--amp'],
                      'error: --amp needs a CUDA device (mmengine AmpOptimWrapper); none is '
                      'available here'))
    for args, message in cases:
        result = run_tool(args, check=False)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert 'Traceback' not in result.stderr and message in result.stderr, args


def test_distributed_training_two_processes_gloo(data_root, tmp_path):
    """``tools/dist_train.sh`` over 2 processes, called from another folder with a relative
    ``--work-dir`` (taken from there, as ``tools/train.py`` takes it)."""
    work_dir = tmp_path / 'ddp'
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=free_port())
    result = subprocess.run(
        ['bash', str(REPO / 'tools/dist_train.sh'), CONFIG, '2', '--work-dir', 'ddp']
        + options(data_root, **{'train_cfg.max_epochs': 1}), cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log
    # 16 images over 2 processes x batch 4 -> 2 iterations per epoch (1 process: 4)
    final = work_dir / 'iter_2.pth'
    ckpt = torch.load(final, map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 2  # saved inside epoch 1, before its counter moves on
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
    assert 'backbone.conv_stem.weight' in ckpt['state_dict']



def test_torchrun_runs_its_own_checkouts_ghostdet(tmp_path):
    """``tools/torchrun.sh`` (under dist_train.sh and dist_test.sh) puts its checkout first on
    ``PYTHONPATH``: every process imports that checkout's ghostdet, ahead of an installed one
    (here the editable install of this repository), and a plain checkout without
    ``pip install -e`` runs its dist scripts."""
    checkout = tmp_path / 'checkout'
    shutil.copytree(REPO / 'ghostdet', checkout / 'ghostdet',
                    ignore=shutil.ignore_patterns('__pycache__'))
    (checkout / 'tools').mkdir()
    shutil.copy(REPO / 'tools' / 'torchrun.sh', checkout / 'tools')
    # each process writes its own file: lines both printed to the shared stdout came back
    # one short twice in this session's 9 runs of it (once after the fixed ports were gone)
    (checkout / 'tools' / 'where.py').write_text(
        'import importlib.util, os, pathlib\n'
        'pathlib.Path(f"where_{os.environ[\'RANK\']}.txt").write_text(\n'
        '    importlib.util.find_spec("ghostdet").origin)\n')
    env = dict(os.environ, PYTHON=sys.executable, PORT=free_port())
    env.pop('PYTHONPATH', None)
    result = subprocess.run(['bash', str(checkout / 'tools' / 'torchrun.sh'), '2', 'where.py'],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    found = {p.name: p.read_text() for p in tmp_path.glob('where_*.txt')}
    assert found == {f'where_{rank}.txt': str(checkout / 'ghostdet' / '__init__.py')
                     for rank in (0, 1)}, (found, result.stdout, result.stderr[-2000:])


def test_mmdets_ssdlite_with_ghostnet_trains_validates_and_tests(data_root, tmp_path):
    """docs/models.md's swap of GhostNet into mmdet's own SSDLite config: train.py (with its
    validation) and test.py run it. mmdet 3.3.0's SSDHead cannot predict at all (no
    ``loss_cls``); ``import ghostdet`` fixes that (ghostdet/models/compat.py)."""
    dataset = ("dict(data_root='{root}', metainfo=dict(classes=('circle', 'square', "
               "'triangle')), ann_file='annotations/{split}.json', "
               "data_prefix=dict(img='images/'))")
    loader = 'batch_size={batch}, num_workers=0, persistent_workers=False'
    config = tmp_path / 'ssdlite_ghostnet.py'
    config.write_text(
        "_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'\n"
        "custom_imports = dict(imports=['ghostdet'], allow_failed_imports=False)\n"
        "model = dict(\n"
        "    backbone=dict(_delete_=True, type='GhostNet', widen_factor=1.0, out_indices=(2, 4)),\n"
        "    neck=dict(in_channels=(112, 960), out_channels=(112, 960, 512, 256, 256, 128)),\n"
        "    bbox_head=dict(in_channels=(112, 960, 512, 256, 256, 128), num_classes=3))\n"
        f"train_dataloader = dict({loader.format(batch=4)}, dataset=dict(times=1, "
        f"dataset={dataset.format(root=data_root, split='train')}))\n"
        f"val_dataloader = dict({loader.format(batch=2)}, "
        f"dataset={dataset.format(root=data_root, split='val')})\n"
        f"test_dataloader = dict({loader.format(batch=2)}, "
        f"dataset={dataset.format(root=data_root, split='test')})\n"
        f"val_evaluator = dict(ann_file='{data_root}annotations/val.json')\n"
        f"test_evaluator = dict(ann_file='{data_root}annotations/test.json')\n"
        "train_cfg = dict(max_epochs=1, val_interval=1)\n"
        "param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, "
        "end=4)]\n")
    work = tmp_path / 'work'
    train = run_tool(['tools/train.py', config, '--work-dir', work])
    assert 'Epoch(train) [1][4/4]' in train.stdout and 'Epoch(val) [1][2/2]' in train.stdout
    test = run_tool(['tools/test.py', config, work / 'epoch_1.pth', '--work-dir', work])
    assert 'Epoch(test) [2/2]' in test.stdout and 'bbox_mAP_copypaste' in test.stdout
