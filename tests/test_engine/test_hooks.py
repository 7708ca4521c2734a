from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from ghostdet.engine import (CheckpointKeysHook, FiniteLossHook, FuseConvBNHook,
                             ProgressBarHook, ReparameterizeHook)
from ghostdet.models.utils import CheckpointMismatchError


def fake_runner(tmp_path, load_from=None, resume=False, model=None):
    return SimpleNamespace(iter=41, epoch=2, work_dir=str(tmp_path), _load_from=load_from,
                           _resume=resume, model=model)


def test_finite_loss_passes_finite_values(tmp_path):
    FiniteLossHook().after_train_iter(fake_runner(tmp_path), 3, None,
                                      dict(loss=torch.tensor(1.5), loss_cls=torch.tensor(1.0)))


def test_finite_loss_names_iteration_terms_and_last_checkpoint(tmp_path):
    (tmp_path / 'iter_40.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_40.pth'))
    outputs = dict(loss=torch.tensor(float('inf')), loss_cls=torch.tensor(float('inf')),
                   loss_bbox=torch.tensor(0.5))
    with pytest.raises(FloatingPointError) as err:
        FiniteLossHook().after_train_iter(fake_runner(tmp_path), 5, None, outputs)
    message = str(err.value)
    assert 'loss is inf at iteration 42 (epoch 3, batch 6)' in message
    assert "'loss_cls': inf" in message and 'loss_bbox' not in message
    assert f'last good checkpoint is {tmp_path / "iter_40.pth"}' in message


def test_finite_loss_runs_before_the_checkpoint_hook():
    from mmengine.hooks import CheckpointHook
    from mmengine.runner.priority import get_priority
    assert get_priority(FiniteLossHook.priority) < get_priority(CheckpointHook.priority)


class Net(nn.Module):

    def __init__(self, width=4):
        super().__init__()
        self.backbone = nn.Linear(2, width)
        self.head = nn.Linear(width, 3)


def test_checkpoint_keys_hook_lists_mismatches_and_honours_ignore_prefixes(tmp_path):
    state = Net(width=4).state_dict()
    state['head.weight'] = torch.zeros(5, 4)  # another number of classes
    runner = fake_runner(tmp_path, load_from='other.pth', model=Net(width=4))
    with pytest.raises(CheckpointMismatchError, match=r'other.pth(.|\n)*shape mismatch \(1\): '
                       r'head.weight'):
        CheckpointKeysHook().after_load_checkpoint(runner, {'state_dict': state})
    # fine-tuning to another class count: allowed with ignore_prefixes
    CheckpointKeysHook(ignore_prefixes=['head.']).after_load_checkpoint(
        runner, {'state_dict': state})
    # a DDP-saved checkpoint (module. prefix) of the same model passes
    CheckpointKeysHook().after_load_checkpoint(
        runner, {'state_dict': {f'module.{k}': v for k, v in Net(4).state_dict().items()}})


def test_checkpoint_keys_hook_names_what_auto_resume_loaded(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    runner = fake_runner(tmp_path, resume=True, model=Net(width=8))
    with pytest.raises(CheckpointMismatchError, match='iter_2.pth'):
        CheckpointKeysHook().after_load_checkpoint(runner, Net(width=4).state_dict())


def test_progress_bar_hook_counts_the_test_images_on_the_stdout_of_the_run(capsys):
    """The bar writes to the ``sys.stdout`` of the test run, not to the one mmengine was
    imported with (a caller that redirects stdout gets the bar)."""
    hook = ProgressBarHook()
    runner = SimpleNamespace(test_dataloader=SimpleNamespace(dataset=[0] * 5))
    hook.before_test_epoch(runner)
    for size in (2, 2, 1):
        hook.after_test_iter(runner, 0, dict(inputs=[None] * size))
    hook.after_test_epoch(runner)
    out = capsys.readouterr().out
    bar, counts = out.rstrip().split('\r')[-1].split('] ')
    assert ' 2/5, ' in out and ' 4/5, ' in out and counts.startswith('5/5, ')
    assert set(bar) == {'[', '>'}  # full: every image counted, once


def test_fuse_conv_bn_hook_folds_the_test_model_in_place_and_logs_it():
    from torch.nn.modules.batchnorm import _BatchNorm

    from ghostdet.apis import build_detector
    from ghostdet.models import DetectorNetwork, randomize_batchnorm
    from tests.helpers import REPO
    model = randomize_batchnorm(build_detector(
        REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py'))
    img = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = DetectorNetwork(model)(img)
    lines = []
    runner = SimpleNamespace(model=model, logger=SimpleNamespace(info=lines.append))
    FuseConvBNHook(shape=(64, 64)).before_test(runner)
    assert runner.model is model  # folded in place: the test loop runs this very model
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    with torch.no_grad():
        after = DetectorNetwork(model)(img)
    for b, a in zip(before, after):
        assert torch.allclose(b, a, rtol=1e-4, atol=1e-4 * float(b.abs().max()))
    assert lines and lines[0].startswith('folded 80 BatchNorm layers')


def test_inference_options_hook_applies_checked_options_to_the_test_model_in_place():
    from torch.nn.modules.batchnorm import _BatchNorm

    from ghostdet.apis import build_detector
    from ghostdet.engine import InferenceOptionsHook
    from ghostdet.models import randomize_batchnorm
    from tests.helpers import REPO
    model = randomize_batchnorm(build_detector(
        REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'))
    lines = []
    runner = SimpleNamespace(model=model, logger=SimpleNamespace(info=lines.append))
    InferenceOptionsHook(fuse_bn=True, channels_last=True, shape=(64, 64)).before_test(runner)
    assert runner.model is model and not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert model.bbox_head.retina_cls.weight.is_contiguous(memory_format=torch.channels_last)
    assert lines and lines[0].startswith('inference options: fuse_bn + channels_last; 80 '
                                         'BatchNorm layers folded; largest difference')
    with pytest.raises(ValueError, match='^fp16 needs a CUDA device, but the model runs on cpu'):
        InferenceOptionsHook(fp16=True).before_test(runner)


def test_random_states_come_back_and_load_with_weights_only(tmp_path):
    import random

    import numpy as np

    from ghostdet.engine import get_random_states, set_random_states

    def draws():
        return (random.random(), np.random.rand(3).tolist(), float(np.random.randn()),
                torch.rand(3).tolist())

    np.random.randn()  # leaves a cached Gaussian in numpy's state
    path = tmp_path / 'states.pth'
    torch.save({'random_states': get_random_states()}, path)
    first = draws()
    assert draws() != first
    set_random_states(torch.load(path, weights_only=True)['random_states'])
    assert draws() == first


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_random_states_keep_the_gpus_generator():
    from ghostdet.engine import get_random_states, set_random_states
    torch.rand(1, device='cuda')
    states = get_random_states()
    first = torch.rand(4, device='cuda').tolist()
    set_random_states(states)
    assert torch.rand(4, device='cuda').tolist() == first


def test_test_pictures_are_named_by_their_path_under_the_image_folder(tmp_path):
    """mmdet's ``DetVisualizationHook`` names a test picture by the image's file name alone:
    ``cam1/0000.jpg`` and ``cam2/0000.jpg`` wrote one picture (tools/test.py --show-dir on
    four such images left two, seen by hand). An image outside the folder keeps its name."""
    import cv2
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmdet.visualization import DetLocalVisualizer
    from mmengine.structures import InstanceData

    from ghostdet.engine import FileNameVisualizationHook
    images = tmp_path / 'data' / 'images'
    paths = [images / 'cam1' / '0000.jpg', images / 'cam2' / '0000.jpg',
             tmp_path / 'elsewhere' / '0000.jpg']
    for index, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((24, 32, 3), 60 * index, np.uint8))
    DetLocalVisualizer.get_instance('ghostdet_test_file_name_hook')
    hook = FileNameVisualizationHook(draw=True, test_out_dir=str(tmp_path / 'vis'))
    samples = []
    for path in paths:
        sample = DetDataSample(metainfo=dict(img_path=str(path)))
        sample.pred_instances = InstanceData(bboxes=torch.tensor([[2.0, 2.0, 20.0, 20.0]]),
                                             labels=torch.tensor([0]),
                                             scores=torch.tensor([0.9]))
        samples.append(sample)
    dataset = SimpleNamespace(data_prefix=dict(img=str(images) + '/'))
    runner = SimpleNamespace(work_dir=str(tmp_path / 'w'), timestamp='t',
                             test_dataloader=SimpleNamespace(dataset=dataset))
    hook.after_test_iter(runner, 0, {}, samples)
    vis = tmp_path / 'vis'
    written = sorted(str(p.relative_to(vis)) for p in vis.rglob('*.jpg'))
    assert written == ['0000.jpg', 'cam1/0000.jpg', 'cam2/0000.jpg']
    first, second = (cv2.imread(str(tmp_path / 'vis' / name)) for name in written[1:])
    assert first.mean() < second.mean()  # each picture from its own image


def _schedulers(optimizer, end, milestones, kind='MultiStepLR'):
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR, MultiStepLR
    warmup = LinearLR(optimizer, start_factor=0.1, by_epoch=False, begin=0, end=2)
    if kind == 'MultiStepLR':
        return [warmup, MultiStepLR(optimizer, milestones=milestones, begin=0, end=end,
                                    gamma=0.1)]
    return [warmup, CosineAnnealingLR(optimizer, T_max=end, begin=0, end=end)]


def _train(optimizer, schedulers, epochs, first_epoch=0, iters=4):
    """The learning rate of each iteration, schedulers stepped as mmengine's hook steps them
    (the warm-up each iteration, the other each epoch)."""
    lrs = []
    for _ in range(first_epoch, epochs):
        for _ in range(iters):
            lrs.append(optimizer.param_groups[0]['lr'])
            optimizer.step()
            schedulers[0].step()
        schedulers[1].step()
    return lrs


def test_a_resumed_run_trains_with_the_configs_schedule(tmp_path):
    """mmengine restores a scheduler's plan (end, milestones) with its steps on --resume: a run
    trained 2 epochs with milestones [1], end 2, resumed to 4 epochs with milestones [1, 3],
    end 4 in the config kept the checkpoint's and never lowered the rate after epoch 3 (seen by
    hand with tools/train.py: 2e-4 in epoch 4, 2e-5 with this hook, as a fresh 4-epoch run)."""
    import copy

    from ghostdet.engine import ResumeScheduleHook

    def optimizer():
        return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)

    first = optimizer()
    old = _schedulers(first, end=2, milestones=[1])
    _train(first, old, 2)
    checkpoint = dict(param_schedulers=[s.state_dict() for s in old])
    kept = copy.deepcopy(checkpoint)

    resumed_optimizer = optimizer()  # as the Runner resumes: schedulers built from the config,
    new = _schedulers(resumed_optimizer, end=4, milestones=[1, 3])
    resumed_optimizer.load_state_dict(first.state_dict())  # the optimizer's state loaded,
    warnings = []
    runner = SimpleNamespace(_resume=True, param_schedulers=new,
                             logger=SimpleNamespace(warning=warnings.append))
    ResumeScheduleHook().after_load_checkpoint(runner, checkpoint)
    assert warnings == [
        "resuming with the config's settings where they differ from the checkpoint's (which "
        'mmengine would keep): param_scheduler.1.milestones [1] -> [1, 3], '
        'param_scheduler.1.end 2 -> 4; from the resumed step on (the steps already trained are '
        'not recomputed)']
    for scheduler, state in zip(new, checkpoint['param_schedulers']):
        scheduler.load_state_dict(state)  # then the schedulers'
    fresh = optimizer()
    expected = _train(fresh, _schedulers(fresh, end=4, milestones=[1, 3]), 4)
    assert _train(resumed_optimizer, new, 4, first_epoch=2) == pytest.approx(expected[8:])
    assert expected[-1] == pytest.approx(0.01)  # lowered after epochs 1 and 3
    # without the hook (mmengine alone): the checkpoint's plan, never lowered after epoch 3
    alone = optimizer()
    schedulers = _schedulers(alone, end=4, milestones=[1, 3])
    alone.load_state_dict(first.state_dict())
    for scheduler, state in zip(schedulers, copy.deepcopy(kept)['param_schedulers']):
        scheduler.load_state_dict(state)
    assert _train(alone, schedulers, 4, first_epoch=2)[-1] == pytest.approx(0.1)

    # the same plan: nothing changed or said; loading weights (not resuming): left alone
    for resume, schedulers in ((True, _schedulers(optimizer(), end=2, milestones=[1])),
                               (False, new)):
        checkpoint = copy.deepcopy(kept)
        runner = SimpleNamespace(_resume=resume, param_schedulers=schedulers,
                                 logger=SimpleNamespace(warning=warnings.append))
        ResumeScheduleHook().after_load_checkpoint(runner, checkpoint)
        assert checkpoint == kept and len(warnings) == 1
    # other schedulers than the checkpoint's (mmengine pairs them by position): refused
    for schedulers in (_schedulers(optimizer(), 4, [1, 3])[:1],
                       _schedulers(optimizer(), 4, [1, 3], kind='CosineAnnealingLR')):
        runner = SimpleNamespace(_resume=True, param_schedulers=schedulers, logger=None)
        with pytest.raises(ValueError, match='a resumed run keeps its schedulers'):
            ResumeScheduleHook().after_load_checkpoint(runner, copy.deepcopy(kept))


def test_a_resumed_run_trains_with_the_configs_learning_rate_and_weight_decay():
    """The optimizer's settings come back from the checkpoint too: a run resumed with lr 0.5
    and weight_decay 1e-4 in the config (1.0 and 0 before) trained on at the old ones. With
    the hook: the rates of a run that had lr 0.5 from the start (the schedule scaled where it
    stands), and the new weight decay."""
    import copy

    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

    from ghostdet.engine import ResumeScheduleHook

    def optimizer(lr=1.0, weight_decay=0.0):
        return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, weight_decay=weight_decay)

    def schedule(optimizer):  # eta_min_ratio: the cosine's floor follows its base values
        return [LinearLR(optimizer, start_factor=0.1, by_epoch=False, begin=0, end=2),
                CosineAnnealingLR(optimizer, T_max=4, begin=0, end=4, eta_min_ratio=0.1)]

    first = optimizer()
    old = schedule(first)
    _train(first, old, 2)
    checkpoint = dict(optimizer=copy.deepcopy(first.state_dict()),
                      param_schedulers=[s.state_dict() for s in old])
    kept = copy.deepcopy(checkpoint)

    def resume(with_hook):
        resumed = optimizer(lr=0.5, weight_decay=1e-4)  # built from the config
        schedulers = schedule(resumed)
        saved = copy.deepcopy(kept)
        warnings = []
        if with_hook:
            runner = SimpleNamespace(_resume=True, param_schedulers=schedulers,
                                     optim_wrapper=SimpleNamespace(optimizer=resumed),
                                     logger=SimpleNamespace(warning=warnings.append))
            ResumeScheduleHook().after_load_checkpoint(runner, saved)
        resumed.load_state_dict(saved['optimizer'])  # what mmengine's resume does next
        for scheduler, state in zip(schedulers, saved['param_schedulers']):
            scheduler.load_state_dict(state)
        # the last one stepped before the checkpoint: its last value is the rate now
        assert schedulers[1].get_last_value() == [resumed.param_groups[0]['lr']]
        return _train(resumed, schedulers, 4, first_epoch=2), resumed, warnings

    fresh = optimizer(lr=0.5)
    expected = _train(fresh, schedule(fresh), 4)[8:]
    lrs, resumed, warnings = resume(with_hook=True)
    assert lrs == pytest.approx(expected)
    assert resumed.param_groups[0]['weight_decay'] == 1e-4
    assert warnings == [
        "resuming with the config's settings where they differ from the checkpoint's (which "
        'mmengine would keep): optimizer lr 1 -> 0.5 (where it stands, times 0.5), optimizer '
        'weight_decay 0 -> 0.0001; from the resumed step on (the steps already trained are not '
        'recomputed)']
    lrs, resumed, _ = resume(with_hook=False)  # mmengine alone: the old rate and decay
    assert lrs == pytest.approx([2 * lr for lr in expected])
    assert resumed.param_groups[0]['weight_decay'] == 0


def test_a_resumed_run_with_no_iteration_left_says_so():
    """``--resume`` of a finished run ended in silence (mmengine's loop has nothing to do;
    seen by hand with tools/train.py: exit 0, no line on it)."""
    from ghostdet.engine import ResumeScheduleHook

    def said(resume=True, **loop):
        warnings = []
        runner = SimpleNamespace(_resume=resume, train_loop=SimpleNamespace(**loop),
                                 logger=SimpleNamespace(warning=warnings.append))
        ResumeScheduleHook().before_train(runner)
        return warnings

    assert said(iter=8, max_iters=8, epoch=2, max_epochs=2) == [
        'the checkpoint is at iteration 8, the last of train_cfg.max_epochs=2 epochs: no '
        "training iteration is left. To train on, raise it in the config, with the schedule's "
        'end and milestones, and resume again']
    assert said(iter=90, max_iters=90)[0].startswith(
        'the checkpoint is at iteration 90, the last of train_cfg.max_iters=90: no training')
    assert said(iter=4, max_iters=8, epoch=1, max_epochs=2) == []  # more to train
    assert said(resume=False, iter=0, max_iters=0, epoch=0, max_epochs=0) == []


def test_reparameterize_hook_folds_the_test_model_and_the_ema_copy():
    """GhostNetV3 is tested in its deployed form; an EMA hook's copy is folded with it, so that
    its parameter swaps around the test epoch still pair like with like."""
    from mmengine.hooks import EMAHook
    from mmengine.runner.priority import get_priority

    from ghostdet.models import GhostNetV3
    from tests.helpers import calibrate_batch_norms

    model = calibrate_batch_norms(GhostNetV3(0.5, out_indices=(0, 4)), shape=(2, 3, 64, 64))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
    runner = SimpleNamespace(model=model)
    ema = EMAHook()
    ema.before_run(runner)
    runner.hooks = [ema]
    ReparameterizeHook().before_test(runner)
    assert not [k for k in model.state_dict() if '_rpr_' in k]
    assert not [k for k in ema.ema_model.state_dict() if '_rpr_' in k]
    ema.before_test_epoch(runner)  # swaps the averaged weights in
    ema.after_test_epoch(runner)  # and back
    with torch.no_grad():
        for b, a in zip(before, model(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-4 * float(b.abs().max()))
    assert get_priority(ReparameterizeHook.priority) < get_priority(FuseConvBNHook.priority)
