import pytest

from ghostdet.utils.config import config_file, resolve_config_path

RETINANET = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'


def test_resolve_mmdet_path():
    path = resolve_config_path(RETINANET)
    assert path.is_file() and path.parts[-2:] == ('retinanet', 'retinanet_r50_fpn_1x_coco.py')
    assert str(resolve_config_path('a/b.py')) == 'a/b.py'


def test_config_file_returns_the_file_or_names_what_is_missing(tmp_path):
    config = tmp_path / 'a.py'
    with pytest.raises(FileNotFoundError, match=f'^config file not found: {config}$'):
        config_file(config)
    config.write_text('x = 1\n')
    assert config_file(config) == config and config_file(str(config)) == config
    assert config_file(RETINANET) == resolve_config_path(RETINANET)
    path = resolve_config_path('mmdet::retinanet/nope.py')
    with pytest.raises(FileNotFoundError) as error:  # the looked-up file is named too
        config_file('mmdet::retinanet/nope.py')
    assert str(error.value) == f'config file not found: mmdet::retinanet/nope.py ({path})'


def test_setuptools_pkg_resources_warning_is_not_printed_by_every_tool(tmp_path):
    """mmengine reads an `mmdet::` base through pkg_resources, which setuptools < 81 (pinned
    for it) warns about in four lines of stderr; `import ghostdet` silences that message."""
    import subprocess
    import sys

    from tests.helpers import REPO
    config = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'
    load = f'from mmengine.config import Config; Config.fromfile({str(config)!r})'
    without, with_ghostdet = (
        subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO)
        for code in (load, 'import ghostdet; ' + load))
    assert without.returncode == with_ghostdet.returncode == 0
    assert 'pkg_resources is deprecated' in without.stderr  # what users saw
    assert 'pkg_resources' not in with_ghostdet.stderr and 'Warning' not in with_ghostdet.stderr


def test_cfg_options_that_would_change_nothing_are_refused():
    """mmengine merges any key without a word: a config file's variable (its users were set
    from it when the file was read) or a misspelt setting trained as if the option were not
    there."""
    from ghostdet.apis import build_run_config, load_config
    from ghostdet.utils.config import check_cfg_options
    from tests.helpers import REPO
    config = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'
    cfg = load_config(config)
    cases = {
        'max_epochs': (24, r"^--cfg-options max_epochs=24 changes nothing: max_epochs is a "
                       r"variable of the config file, and the settings that use it took its "
                       r"value \(12\) when the file was read; override those settings instead; "
                       r"those holding that value now: param_scheduler\.1\.end, "
                       r"train_cfg\.max_epochs$"),
        'data_root': ('/x/', r"took its value \('data/synthetic/'\) .*: "
                      r"test_dataloader\.dataset\.data_root, test_evaluator\.ann_file, "
                      r"train_dataloader\.dataset\.data_root, val_dataloader\.dataset\.data_root"
                      r", val_evaluator\.ann_file$"),
        'train_pipeline.0.type': ('X', r"took its value \(\[\{'type': 'LoadImageFrom.*\.\.\.\) "
                                  r"when the file was read; override those settings "
                                  r"instead$"),
        'train_dataloder.batch_size': (4, r"^--cfg-options train_dataloder\.batch_size=4 changes"
                                       r" nothing: the config has no train_dataloder, and "
                                       r"neither mmengine's Runner nor ghostdet reads it; did "
                                       r"you mean train_dataloader\?$"),
        'my_flag': (1, r"has no my_flag, .* reads it \(a setting of your own: put it in the "
                    r"config\)$"),
        # the tools set it from --launcher after the merge
        'launcher': ('pytorch', r"^--cfg-options launcher=pytorch changes nothing: the tools "
                     r"set launcher from their own --launcher option after the config is "
                     r"read: pass --launcher pytorch to tools/train\.py or tools/test\.py"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            check_cfg_options(cfg, {key: value})
        with pytest.raises(ValueError, match=message):  # where the tools load configs
            build_run_config(config, cfg_options={key: value})
        with pytest.raises(ValueError, match=message):
            load_config(config, {key: value})
    # settings, new ones too, where a Runner or a constructor reads them
    options = {'train_dataloader.batch_size': 2, 'param_scheduler.1.end': 24,
               'find_unused_parameters': True, 'test_evaluator.classwise': True,
               'model.backbone.widen_factor': 1.3}
    cfg = build_run_config(config, cfg_options=options)
    assert cfg.train_dataloader.batch_size == 2 and cfg.param_scheduler[1].end == 24
    assert cfg.find_unused_parameters and cfg.test_evaluator.classwise
    assert load_config(config, options).model.backbone.widen_factor == 1.3


def test_a_changed_training_length_that_leaves_the_schedule_behind_is_said(capsys):
    """``train_cfg.max_epochs=24`` on a 12-epoch config: mmdet's MultiStepLR still ends at
    epoch 12, so epochs 13-24 train at its final learning rate, without a word."""
    from functools import partial

    from ghostdet.apis import (build_run_config, build_test_config, build_train_config,
                               load_config as load_any)
    from ghostdet.utils.config import schedule_length_notes
    load_config = partial(load_any, training=True)  # as build_train_config loads
    from tests.helpers import REPO
    coco = REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py'
    load_config(coco, cfg_options={'train_cfg.max_epochs': 24})
    assert capsys.readouterr().err == (
        'warning: train_cfg.max_epochs is 24, but param_scheduler.1 (MultiStepLR, milestones '
        '[8, 11]) still ends at epoch 12, where training ended before: epochs 13-24 train at '
        'its final learning rate; set param_scheduler.1.end=24 and its milestones to fit the '
        'schedule to the new length\n')  # the warm-up, counted in iterations, is not named
    quick = REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'
    load_config(quick, cfg_options={'train_cfg.max_epochs': 2})
    assert capsys.readouterr().err.startswith(
        'warning: train_cfg.max_epochs is 2, but param_scheduler.1 (CosineAnnealingLR) still '
        'ends at epoch 12, where training ended before: training stops at epoch 2, before its '
        'end; set param_scheduler.1.end=2 to fit')
    # a warm-up of 12 iterations ends at "12" too, but counts iterations: not named
    load_config(quick, cfg_options={'param_scheduler.0.end': 12, 'train_cfg.max_epochs': 2})
    err = capsys.readouterr().err
    assert err.count('warning:') == 1 and 'param_scheduler.1 (CosineAnnealingLR)' in err
    for options in ({'train_cfg.max_epochs': 24, 'param_scheduler.1.end': 24},  # stretched
                    {'train_cfg.max_epochs': 12},  # the same length
                    {'train_cfg.val_interval': 2}):
        load_config(coco, cfg_options=options)
        assert capsys.readouterr().err == ''
    # said where training is configured only: not by test.py or the analysis tools
    longer = {'train_cfg.max_epochs': 24}
    build_run_config(coco, cfg_options=longer)
    load_any(coco, longer)
    build_test_config(coco, str(coco), cfg_options=longer)
    assert capsys.readouterr().err == ''
    build_train_config(coco, cfg_options=longer)  # tools/train.py, the quickstart, the study
    assert capsys.readouterr().err.startswith('warning: train_cfg.max_epochs is 24, but')
    iters = dict(type='IterBasedTrainLoop', max_iters=1000)
    cfg = load_config(coco, cfg_options={'param_scheduler.1.by_epoch': False,
                                         'param_scheduler.1.end': 1000})
    cfg.train_cfg = dict(iters, max_iters=3000)
    notes = schedule_length_notes(iters, cfg)
    assert len(notes) == 1 and notes[0].startswith('train_cfg.max_iters is 3000, but')
    assert 'param_scheduler.1 (MultiStepLR' in notes[0] and 'iterations 1001-3000' in notes[0]


def test_milestones_that_never_come_are_said(tmp_path, capsys):
    """mmengine steps a scheduler only before its ``end`` and before training ends, counting
    milestones from its ``begin``: ``milestones=[8, 11]`` on a 6-epoch run never lower the
    learning rate, without a word (lr of a real MultiStepLR checked below)."""
    import torch
    from mmengine.optim.scheduler import MultiStepLR

    from ghostdet.apis import build_train_config, load_config
    from ghostdet.utils.config import unreached_milestone_notes
    from tests.helpers import REPO
    coco = REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py'
    load_config(coco, cfg_options={'train_cfg.max_epochs': 6, 'param_scheduler.1.end': 6},
                training=True)
    assert capsys.readouterr().err == (
        'warning: param_scheduler.1 (MultiStepLR, milestones [8, 11]) lowers the learning '
        'rate after epochs 8 and 11, but training ends (train_cfg.max_epochs=6) after epoch 6: '
        'the learning rate is never lowered there; set param_scheduler.1.milestones below 6\n')
    # in the config file itself, with no options: said by build_train_config (tools/train.py)
    short = tmp_path / 'short.py'
    short.write_text(f"_base_ = '{coco}'\ntrain_cfg = dict(max_epochs=12)\n"
                     "param_scheduler = [dict(type='LinearLR', start_factor=0.001, "
                     "by_epoch=False, begin=0, end=500), dict(type='MultiStepLR', begin=1, "
                     "end=10, by_epoch=True, milestones=[8, 9, 11], gamma=0.1)]\n")
    build_train_config(str(short), work_dir=str(tmp_path))
    assert capsys.readouterr().err == (
        'warning: param_scheduler.1 (MultiStepLR, milestones [8, 9, 11] counted from begin=1) '
        'lowers the learning rate after epochs 10 and 12, but it ends '
        '(param_scheduler.1.end=10) after epoch 10: the learning rate is never lowered there; '
        'set param_scheduler.1.milestones below 9\n')  # the warm-up's end=500: iterations
    # what mmengine does with that scheduler: lowered after epoch 9 (1 + 8), never again
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = MultiStepLR(optimizer, milestones=[8, 9, 11], begin=1, end=10, gamma=0.1)
    lrs = []
    for _ in range(14):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([1.0] * 9 + [0.1] * 5)
    # a shortened length that leaves the scheduler's end behind: said once, by the length note
    load_config(coco, cfg_options={'train_cfg.max_epochs': 6}, training=True)
    err = capsys.readouterr().err
    assert err.count('warning:') == 1 and 'still ends at epoch 12' in err
    # milestones in iterations, an iteration loop long enough, the last milestone just inside
    cfg = load_config(coco, cfg_options={'param_scheduler.1.milestones': [8, 11]})
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=8)
    assert unreached_milestone_notes(cfg) == []  # epoch milestones, an iteration loop
    cfg.param_scheduler[1].by_epoch = False
    assert unreached_milestone_notes(cfg)[0].endswith('after iteration 8: the learning rate '
                                                      'is never lowered there; set '
                                                      'param_scheduler.1.milestones below 8')
    cfg.train_cfg.max_iters = 12
    assert unreached_milestone_notes(cfg) == []
