import pytest
import torch

from ghostdet.apis import build_test_config, build_train_config, load_config
from ghostdet.apis.runner import latest_checkpoint
from tests.helpers import REPO

CONFIG = str(REPO / 'configs/ghostnet/retinanet_ghostnet-1.1x_fpn_1x_coco.py')


def test_work_dir_precedence():
    assert build_train_config(CONFIG).work_dir == './work_dirs/retinanet_ghostnet-1.1x_fpn_1x_coco'
    assert build_train_config(CONFIG, work_dir='/tmp/w').work_dir == '/tmp/w'
    quickstart = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    assert build_train_config(quickstart).work_dir == 'work_dirs/quickstart'  # from the config


def test_mmdet_config_names_are_accepted():
    cfg = build_train_config('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py')
    assert cfg.model.backbone.depth == 18
    assert cfg.work_dir == './work_dirs/retinanet_r18_fpn_1x_coco'


def test_resume_auto_and_path(tmp_path):
    cfg = build_train_config(CONFIG, resume='auto', work_dir=str(tmp_path / 'empty'))
    assert cfg.resume is True and cfg.load_from is None  # nothing to resume: start fresh
    ckpt = tmp_path / 'iter_2.pth'
    ckpt.write_bytes(b'')
    cfg = build_train_config(CONFIG, resume=str(ckpt))
    assert cfg.resume is True and cfg.load_from == str(ckpt)
    # resumed with the config's schedule (ghostdet.engine.ResumeScheduleHook), once
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks.count('ResumeScheduleHook') == 1
    assert 'ResumeScheduleHook' not in [h['type'] for h in build_train_config(CONFIG).custom_hooks]
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        build_train_config(CONFIG, resume=str(tmp_path / 'missing.pth'))


def test_auto_scale_lr_and_cfg_options():
    cfg = build_train_config(CONFIG, auto_scale_lr=True,
                             cfg_options={'train_dataloader.batch_size': 4})
    assert cfg.auto_scale_lr.enable is True and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_dataloader.batch_size == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only error')
def test_amp_without_cuda_says_so():
    with pytest.raises(RuntimeError, match='--amp needs a CUDA device'):
        build_train_config(CONFIG, amp=True)


def test_amp_switches_the_optimizer_wrapper_where_cuda_is(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = build_train_config(CONFIG, amp=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.type == 'SGD'  # the rest of the wrapper kept
    assert capsys.readouterr().out == ''
    cfg = build_train_config(CONFIG, amp=True, cfg_options={
        'optim_wrapper.type': 'AmpOptimWrapper', 'optim_wrapper.loss_scale': 512.0})
    assert cfg.optim_wrapper.loss_scale == 512.0  # the config's own setting is not replaced
    assert 'AMP is already enabled in the config' in capsys.readouterr().out


def test_options_the_config_cannot_serve_are_refused(tmp_path):
    """--auto-scale-lr without the config's base batch size, --show-dir without a
    visualization hook: named, not a KeyError deep in mmengine or a run without pictures."""
    config = tmp_path / 'no_extras.py'
    config.write_text(f"_base_ = '{CONFIG}'\nauto_scale_lr = None\n"
                      "default_hooks = dict(visualization=None)\n")
    with pytest.raises(KeyError, match='--auto-scale-lr needs `auto_scale_lr'):
        build_train_config(str(config), auto_scale_lr=True)
    ckpt = tmp_path / 'epoch_12.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(KeyError, match='--show-dir needs a `visualization` hook'):
        build_test_config(str(config), str(ckpt), show_dir=str(tmp_path / 'vis'))
    assert build_test_config(str(config), str(ckpt)).load_from == str(ckpt)
    drawn = build_test_config(CONFIG, str(ckpt), show_dir=str(tmp_path / 'vis'))
    assert drawn.default_hooks.visualization.type == 'FileNameVisualizationHook'


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        build_train_config(str(tmp_path / 'no_such_config.py'))
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        build_test_config(CONFIG, str(tmp_path / 'no_such.pth'))


def test_an_onnx_file_is_refused_with_the_function_that_tests_it(tmp_path):
    """The entry points sit below export: an exported file's test config and demo model are
    ghostdet.deployment's, which tools/test.py and tools/demo.py choose for a .onnx file."""
    from ghostdet.apis import init_demo_model
    onnx_file = tmp_path / 'model.onnx'
    onnx_file.write_bytes(b'')
    with pytest.raises(ValueError, match=r'model\.onnx is an exported ONNX model, not a '
                       r'checkpoint: its test config is ghostdet\.deployment\.build_onnx_test'):
        build_test_config(CONFIG, str(onnx_file))
    with pytest.raises(ValueError, match=r'its demo model is ghostdet\.deployment\.init_onnx'):
        init_demo_model(CONFIG, str(onnx_file))


def test_test_config_out_show_dir_and_progress(tmp_path):
    ckpt = tmp_path / 'epoch_12.pth'
    ckpt.write_bytes(b'')
    cfg = build_test_config(CONFIG, str(ckpt), out=str(tmp_path / 'r.pkl'),
                            show_dir=str(tmp_path / 'vis'))
    assert cfg.load_from == str(ckpt)
    assert cfg.test_evaluator[-1] == dict(type='DumpDetResults',
                                          out_file_path=str(tmp_path / 'r.pkl'))
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.default_hooks.visualization.test_out_dir == str(tmp_path / 'vis')
    assert dict(type='ProgressBarHook') in cfg.custom_hooks
    assert dict(type='FuseConvBNHook') not in cfg.custom_hooks
    folded = build_test_config(CONFIG, str(ckpt), fuse_conv_bn=True)
    assert [h['type'] for h in folded.custom_hooks].count('FuseConvBNHook') == 1
    # GhostNetV3's branches are folded before testing, with every config
    assert [h['type'] for h in folded.custom_hooks].count('ReparameterizeHook') == 1
    with pytest.raises(ValueError, match='.pkl'):
        build_test_config(CONFIG, str(ckpt), out=str(tmp_path / 'r.json'))


def test_test_config_always_checks_the_checkpoint_keys(tmp_path):
    """With mmdet's own config too, which has no such hook: mmengine would load a checkpoint
    of another architecture where it matches and test the rest at random."""
    ckpt = tmp_path / 'epoch_12.pth'
    ckpt.write_bytes(b'')
    cfg = build_test_config('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py', str(ckpt))
    assert [h['type'] for h in cfg.custom_hooks].count('CheckpointKeysHook') == 1
    cfg = build_test_config(CONFIG, str(ckpt))  # its own (light_backbone_coco.py): not twice
    assert [h['type'] for h in cfg.custom_hooks].count('CheckpointKeysHook') == 1
    assert build_train_config(CONFIG).custom_hooks == [
        dict(type='FiniteLossHook'), dict(type='CheckpointKeysHook'),
        dict(type='NumClassesCheckHook')]


def test_auto_resume_takes_the_newest_checkpoint_not_a_stale_pointer(tmp_path):
    import os
    for i, name in enumerate(['iter_2.pth', 'iter_4.pth', 'iter_6.pth']):
        (tmp_path / name).write_bytes(b'')
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    # killed after saving iter_6.pth, before CheckpointHook updated its pointer
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_6.pth')
    cfg = build_train_config(CONFIG, resume='auto', work_dir=str(tmp_path))
    assert cfg.load_from == str(tmp_path / 'iter_6.pth')
    assert latest_checkpoint(str(tmp_path / 'missing')) is None


QUICKSTART = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')


def test_tta_flips_the_test_pipeline_unless_the_config_has_its_own(tmp_path, capsys):
    """``--tta``: the quickstart (which drops mmdet's COCO-scale augmentation) gets each image
    as it is and flipped, its PackDetInputs keeping its meta keys plus the flip's; a COCO
    RetinaNet config keeps mmdet's multi-scale one. The input checks look inside the
    augmentation model; a test pipeline that cannot be flipped, or a wrapped test dataset,
    are handled."""
    from ghostdet.apis.runner import check_config_inputs
    from ghostdet.datasets.checks import NumClassesMismatchError
    from ghostdet.models.structure import NeckChannelsMismatchError
    ckpt = tmp_path / 'iter_8.pth'
    ckpt.write_bytes(b'')
    plain = build_test_config(QUICKSTART, str(ckpt))
    cfg = build_test_config(QUICKSTART, str(ckpt), tta=True)
    assert 'each test image as it is and flipped left-right' in capsys.readouterr().out
    assert cfg.model.type == 'DetTTAModel' and cfg.model.module == plain.model
    assert cfg.model.tta_cfg.nms.iou_threshold == 0.5
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert pipeline[:-1] == plain.test_dataloader.dataset.pipeline[:-1]
    flips, (pack,) = pipeline[-1].transforms
    assert pipeline[-1].type == 'TestTimeAug' and [f.prob for f in flips] == [1.0, 0.0]
    assert pack.meta_keys == plain.test_dataloader.dataset.pipeline[-1].meta_keys + (
        'flip', 'flip_direction')
    from ghostdet.datasets import make_synthetic_coco
    make_synthetic_coco(tmp_path / 'data', num_train=1, num_val=1, num_test=1)
    data = {'test_dataloader.dataset.data_root': f'{tmp_path}/data/',
            'test_evaluator.ann_file': f'{tmp_path}/data/annotations/test.json'}
    check_config_inputs(build_test_config(QUICKSTART, str(ckpt), cfg_options=data, tta=True),
                        QUICKSTART, ('test_dataloader',))
    for options, error in (({'model.bbox_head.num_classes': 5}, NumClassesMismatchError),
                           ({'model.neck.in_channels': [8, 8, 8]}, NeckChannelsMismatchError)):
        wrong = build_test_config(QUICKSTART, str(ckpt), cfg_options=dict(data, **options),
                                  tta=True)
        with pytest.raises(error):
            check_config_inputs(wrong, QUICKSTART, ('test_dataloader',))

    coco = build_test_config(CONFIG, str(ckpt), tta=True)
    assert "the config's tta_pipeline, their boxes merged by the config's tta_model" in \
        capsys.readouterr().out
    scales = [t.scale for t in coco.test_dataloader.dataset.pipeline[1].transforms[0]]
    assert scales == [(1333, 800), (666, 400), (2000, 1200)]

    config = tmp_path / 'odd.py'
    config.write_text(f'_base_ = {QUICKSTART!r}\ntest_dataloader = dict(dataset=dict('
                      "pipeline=[dict(type='LoadImageFromFile')]))\n")
    with pytest.raises(ValueError, match="must end with PackDetInputs; this one ends with "
                                         "'LoadImageFromFile': give the config a tta_pipeline"):
        build_test_config(str(config), str(ckpt), tta=True)
    config.write_text(f'_base_ = {QUICKSTART!r}\ntest_dataloader = dict(dataset=dict('
                      "_delete_=True, type='RepeatDataset', times=1, dataset="
                      "{{_base_.test_dataloader.dataset}}))\n")
    wrapped = build_test_config(str(config), str(ckpt), tta=True)
    assert 'pipeline' not in wrapped.test_dataloader.dataset
    assert wrapped.test_dataloader.dataset.dataset.pipeline[-1].type == 'TestTimeAug'
    config.write_text(f'_base_ = {QUICKSTART!r}\ntest_dataloader = dict(dataset=dict('
                      "_delete_=True, type='ConcatDataset', datasets=["
                      "{{_base_.test_dataloader.dataset}}]))\n")
    with pytest.raises(ValueError, match="ConcatDataset has none"):
        build_test_config(str(config), str(ckpt), tta=True)


def test_test_config_adds_the_inference_options_hook_with_the_fold():
    from ghostdet.apis.runner import configure_test
    from ghostdet.models import InferenceOptions

    def hooks(**kwargs):
        cfg = configure_test(load_config(CONFIG), **kwargs)
        return [h for h in cfg.custom_hooks
                if h['type'] in ('InferenceOptionsHook', 'FuseConvBNHook')]

    assert hooks() == []
    assert hooks(fuse_conv_bn=True) == [dict(type='FuseConvBNHook')]
    assert hooks(options=InferenceOptions(fuse_bn=True)) == [dict(type='FuseConvBNHook')]
    # one hook folds first, then applies the others; no second fold
    assert hooks(fuse_conv_bn=True, options=InferenceOptions(fp16=True, cuda_graph=True)) == [
        dict(type='InferenceOptionsHook', fuse_bn=True, fp16=True, cuda_graph=True)]
    assert hooks(options=InferenceOptions(channels_last=True)) == [
        dict(type='InferenceOptionsHook', channels_last=True, fuse_bn=False)]
