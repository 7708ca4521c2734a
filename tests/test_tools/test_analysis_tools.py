import importlib.util
import os
import pickle
import re

import pytest
import torch

from tests.helpers import REPO


def _tool(name, folder='analysis'):
    path = REPO / 'tools' / folder / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_get_flops_faster_rcnn(capsys):
    rows = _tool('get_flops').main([
        str(REPO / 'configs/ghostnet/faster-rcnn_ghostnet-1.0x_ghost-fpn_1x_coco.py'), '--shape',
        '96', '120', '--proposals', '20', '--threads', '1'
    ])
    out = capsys.readouterr().out
    assert [r.name for r in rows] == ['backbone', 'neck', 'rpn_head', 'roi_head', 'total']
    assert rows[-1].input == '1x3x96x128'
    assert all(r.mmengine_flops is not None for r in rows)
    assert '| roi_head | 20 RoIs |' in out and 'requested 96x120' in out
    assert f'| {rows[-1].macs / 1e9:.3f} |' in out


@pytest.mark.parametrize('tool', ['get_flops', 'benchmark'])
def test_missing_config_is_a_one_line_error(tool, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _tool(tool).main([str(tmp_path / 'nope.py')])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f'error: config file not found: {tmp_path}/nope.py\n'


@pytest.mark.parametrize('tool, option', [
    ('get_flops', ['--shape', '0', '640']),
    ('benchmark', ['--runs', '0']),
    ('benchmark', ['--warmup', '-1']),
    ('benchmark', ['--threads', '0']),
    ('peer_benchmark', ['--batch-sizes', '1', '0']),
    ('compare_predictions', ['--box-tol', '-1']),
])
def test_a_bad_number_is_refused_before_any_work(tool, option, capsys):
    """Once a traceback from deep in torch (a 0-pixel input) or from the timing loop, after
    the model was built; now argparse's one line, naming the option."""
    argv = {'peer_benchmark': [], 'compare_predictions': ['a.pkl', 'b.pkl']}.get(
        tool, [str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')])
    with pytest.raises(SystemExit) as exit_info:
        _tool(tool).parse_args(argv + option)
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after the usage lines
    assert re.search(f'error: argument {option[0]}: must be .*, but got -?[0-9]+$', last)


@pytest.mark.parametrize('tool', ['benchmark', 'peer_benchmark', 'demo', 'study'])
def test_a_cuda_device_on_a_machine_without_one_is_refused_before_any_work(tool, monkeypatch,
                                                                          capsys):
    """Once torch's "Torch not compiled with CUDA enabled" from the first model move."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    config = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    argv = {'peer_benchmark': [], 'demo': ['a.jpg', config, 'model.pth']}.get(tool, [config])
    module = _tool(tool, '.' if tool in ('demo', 'study') else 'analysis')
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(argv + ['--device', 'cuda'])
    assert exit_info.value.code == 2
    assert re.search(r'error: argument --device: cuda needs a CUDA device, but torch \S+ '
                     r'finds none here$', capsys.readouterr().err.splitlines()[-1])


def test_get_flops_retinanet_cfg_options_and_no_pad(capsys):
    rows = _tool('get_flops').main([
        str(REPO / 'configs/ghostnet/retinanet_ghostnet-1.1x_fpn_1x_coco.py'), '--shape', '64',
        '80', '--no-pad', '--no-mmengine', '--cfg-options', 'model.backbone.widen_factor=1.0',
        'model.neck.in_channels=[40,112,960]'
    ])
    assert [r.name for r in rows] == ['backbone', 'neck', 'bbox_head', 'total']
    assert rows[0].input == '1x3x64x80'
    assert rows[0].params == 2_671_428  # GhostNet 1.0x without classifier
    assert rows[-1].mmengine_flops is None
    assert '| - |' in capsys.readouterr().out


@pytest.mark.parametrize('mode', ['tensor', 'predict', 'network'])
def test_benchmark(mode, capsys):
    results = _tool('benchmark').main([
        str(REPO / 'configs/mobilenetv3/retinanet_mobilenetv3-large_fpn_1x_coco.py'), '--shape',
        '64', '64', '--batch-size', '2', '--runs', '2', '--warmup', '1', '--threads', '1',
        '--mode', mode, '--proposals', '10'
    ])
    assert len(results) == 1
    assert results[0].runs == 2 and results[0].batch_size == 2 and results[0].threads == 1
    out = capsys.readouterr().out
    assert f'mode={mode}' in out and 'ms/image median' in out


@pytest.mark.parametrize('mode', ['predict', 'network'])
def test_benchmark_fuse_conv_bn_times_both_in_one_run(mode, capsys):
    results = _tool('benchmark').main([
        str(REPO / 'configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py'), '--shape', '64',
        '64', '--runs', '2', '--warmup', '1', '--threads', '1', '--mode', mode,
        '--proposals', '10', '--fuse-conv-bn'
    ])
    assert [r.name for r in results] == [f'FasterRCNN ({mode})',
                                         f'FasterRCNN ({mode}), BatchNorm folded']
    out = capsys.readouterr().out
    folded = re.search(r'folded (\d+) BatchNorm layers .* at most (\S+) of their magnitude', out)
    assert int(folded.group(1)) > 50 and float(folded.group(2)) < 1e-4
    rows = [line for line in out.splitlines() if line.startswith('| FasterRCNN')]
    assert len(rows) == 2 and rows[0].endswith('| 1.00x |')
    ratio = results[1].ms_per_image / results[0].ms_per_image
    assert rows[1].endswith(f'| {ratio:.2f}x |')


def test_benchmark_refused_fold_is_a_one_line_error(monkeypatch, capsys):
    tool = _tool('benchmark')
    fold = tool.fuse_conv_bn
    monkeypatch.setattr(tool, 'fuse_conv_bn', lambda model, img: fold(model, img, rtol=0.0))
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py'),
                   '--shape', '64', '64', '--runs', '1', '--warmup', '0', '--fuse-conv-bn'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: folding BatchNorm into the convolutions changes the outputs')
    assert err.endswith("so mmcv's fuse_conv_bn cannot fold this model") and '\n' not in err


def test_benchmark_onnx_times_the_exported_files_beside_their_checkpoint(tmp_path, capsys):
    """The float file and its int8 copy, each a row beside the PyTorch network."""
    import torch

    from ghostdet.analysis import build_detector, synthetic_batch
    from ghostdet.deployment import export_onnx, quantize_onnx
    config = str(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_ghost-fpn_1x_coco.py')
    model = build_detector(config)
    checkpoint, onnx_file = tmp_path / 'model.pth', tmp_path / 'model.onnx'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    export_onnx(model, str(onnx_file), synthetic_batch(model, (64, 64))[0])
    int8_file = tmp_path / 'int8.onnx'
    quantize_onnx(str(onnx_file), str(int8_file),
                  [synthetic_batch(model, (64, 96), seed=seed)[0] for seed in range(2)],
                  progress=None)
    tool = _tool('benchmark')
    args = [config, str(checkpoint), '--shape', '96', '64', '--runs', '2', '--warmup', '1',
            '--threads', '1', '--mode', 'network', '--onnx', str(onnx_file), str(int8_file)]
    results = tool.main(args)
    assert [r.name for r in results] == ['RetinaNet (network)', f'onnxruntime ({onnx_file})',
                                         f'onnxruntime int8 ({int8_file})']
    assert [r.precision_name for r in results] == ['fp32', 'fp32', 'int8']
    assert all(r.threads == 1 and r.runs == 2 for r in results)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith('| ')]
    for row, result in zip(rows[-2:], results[1:]):
        ratio = result.ms_per_image / results[0].ms_per_image
        assert row.startswith(f'| {result.name} | cpu | {result.precision_name} |')
        assert row.endswith(f'| {ratio:.2f}x |')
    # other weights (none given: random) than the file's: refused, not timed
    with pytest.raises(SystemExit) as exit_info:
        tool.main(args[:1] + args[2:-1])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(
        f'error: {onnx_file} does not compute what this model computes')
    with pytest.raises(SystemExit):
        tool.parse_args([config, '--onnx', str(onnx_file)])  # --mode predict: not the network


def test_benchmark_export_onnx_times_float_and_int8_files_of_the_model(capsys):
    """Random weights will do: the files are exported from the model itself."""
    config = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    tool = _tool('benchmark')
    results = tool.main([config, '--shape', '64', '96', '--runs', '2', '--warmup', '1',
                         '--threads', '1', '--mode', 'network', '--export-onnx'])
    assert [(r.name, r.precision_name) for r in results] == [
        ('RetinaNet (network)', 'fp32'), ('onnxruntime (exported)', 'fp32'),
        ('onnxruntime int8 (exported)', 'int8')]
    out = capsys.readouterr().out
    assert 'exported the network to ONNX (' in out
    ratio = results[2].ms_per_image / results[1].ms_per_image
    assert out.rstrip().endswith(f'int8 took {ratio:.2f}x of the float file\'s time in '
                                 'onnxruntime')
    faster = str(REPO / 'configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py')
    with pytest.raises(SystemExit) as exit_info:
        tool.main([faster, '--shape', '64', '96', '--mode', 'network', '--export-onnx'])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith('error: FasterRCNN is a two-stage detector')
    with pytest.raises(SystemExit):
        tool.parse_args([config, '--export-onnx'])  # --mode predict: not the network


def test_benchmark_amp_on_cpu_is_refused():
    with pytest.raises(SystemExit):
        _tool('benchmark').parse_args(['cfg.py', '--amp'])


def test_compare_backbones_small_run(tmp_path, capsys):
    results = _tool('compare_backbones').main([
        '--out-dir', str(tmp_path), '--backbones', 'GhostNet 0.5x', 'MobileNetV3-Large',
        '--det-backbones', 'MobileNetV3-Large', '--algorithms', 'retinanet', '--macs-shape',
        '64', '64', '--det-shape', '64', '64', '--runs', '2', '--warmup', '0', '--det-runs', '1',
        '--det-warmup', '0', '--threads', '1', '--no-cuda'
    ])
    text = (tmp_path / 'benchmarks_table.md').read_text()
    assert text == results['markdown'] and text in capsys.readouterr().out
    assert '| GhostNet 0.5x | 2.587 | 2.6 | -0.5% | 42.3 | 42 | +0.8% |' in text
    assert 'vs MobileNetV3-Large |' in text
    assert 'retinanet MobileNetV3-Large GhostFPN' in text
    assert '| backbone ms | neck ms | total ms/image |' in text
    assert len(results['detectors']) == 4  # 2 backbones x FPN/GhostFPN
    assert '--threads 1' in text and '1 torch thread(s)' in text
    chart = tmp_path / 'benchmarks_chart.png'
    assert chart.is_file() and chart.stat().st_size < 300_000


def test_compare_backbones_fuse_conv_bn_adds_folded_classifier_rows(tmp_path):
    results = _tool('compare_backbones').main([
        '--out-dir', str(tmp_path), '--backbones', 'GhostNet 0.5x', 'MobileNetV3-Large',
        '--det-backbones', '--no-det-macs', '--runs', '2', '--warmup', '0', '--threads', '1',
        '--no-cuda', '--fuse-conv-bn'
    ])
    assert [r.name for r in results['cpu_backbones']] == [
        'GhostNet 0.5x', 'MobileNetV3-Large', 'GhostNet 0.5x, BatchNorm folded',
        'MobileNetV3-Large, BatchNorm folded']
    folded = results['cpu_backbones'][2:]
    text = results['markdown']
    rows = [line for line in text.splitlines() if line.startswith(('| GhostNet 0.5x',
                                                                   '| MobileNetV3-Large'))]
    assert [r.split(' | ')[0] for r in rows[-4:]] == [
        '| GhostNet 0.5x', '| MobileNetV3-Large', '| GhostNet 0.5x, BatchNorm folded',
        '| MobileNetV3-Large, BatchNorm folded']
    base = results['cpu_backbones'][1].ms_per_image  # the unfolded MobileNetV3-Large
    assert rows[-1].endswith(f'| {folded[1].ms_per_image / base:.2f}x |')
    assert '"BatchNorm folded": each BatchNorm folded' in text


def test_compare_backbones_no_cpu_needs_cuda(monkeypatch):
    compare = _tool('compare_backbones')
    monkeypatch.setattr(compare.torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit) as err:
        compare.parse_args(['--no-cpu'])
    assert err.value.code == 2
    monkeypatch.setattr(compare.torch.cuda, 'is_available', lambda: True)
    assert compare.parse_args(['--no-cpu']).no_cpu
    with pytest.raises(SystemExit):
        compare.parse_args(['--no-cpu', '--no-cuda'])


class _RunsShell:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_confusion_matrix_bad_inputs_are_one_line_errors(tmp_path, capsys):
    config = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    tool = _tool('confusion_matrix')
    with pytest.raises(SystemExit) as exit_info:
        tool.main([config, str(tmp_path / 'nope.pkl')])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f'error: {tmp_path}/nope.pkl can not be found.\n'

    marker = tmp_path / 'code_ran'
    evil = tmp_path / 'results.pkl'
    evil.write_bytes(pickle.dumps([_RunsShell(marker)]))
    with pytest.raises(SystemExit) as exit_info:
        tool.main([config, str(evil)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(f'error: refused to load {evil}')
    assert 'system' in err and len(err.splitlines()) == 1 and not marker.exists()

    with pytest.raises(SystemExit) as exit_info:
        tool.main([config, str(evil), '--iou-thr', '0'])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(
        'error: argument --iou-thr: must be a number above 0, at most 1, but got 0\n')


def test_analyze_logs_prints_each_runs_best_and_last_validation(tmp_path, capsys):
    from tests.test_analysis.test_logs import epoch_run, write_start
    write_start(tmp_path / 'a', '20260101_000000', epoch_run(3))
    write_start(tmp_path / 'b', '20260101_000000', epoch_run(2)[:-1])  # epoch 2 not validated
    out = _tool('analyze_logs').main(['plot_curve', str(tmp_path / 'a'), str(tmp_path / 'b'),
                                      '--keys', 'bbox_mAP_50', 'loss', 'time'])
    printed = capsys.readouterr().out
    assert out == tmp_path / 'a' / 'curves.png' and out.stat().st_size > 0
    assert printed == (
        'a: 12 logged iterations, 3 validations\n'
        '  coco/bbox_mAP_50: best 0.5 at epoch 3, last 0.5 at epoch 3\n'
        'b: 8 logged iterations, 1 validation\n'
        '  coco/bbox_mAP_50: best 0.3 at epoch 1, last 0.3 at epoch 1\n'
        f'wrote {out}\n')


def test_analyze_logs_bad_inputs_are_one_line_errors(tmp_path, capsys):
    from tests.test_analysis.test_logs import epoch_run, write_start
    write_start(tmp_path / 'a', 's', epoch_run(1))
    for argv, message in (
            (['plot_curve', str(tmp_path / 'nope')], f'error: {tmp_path}/nope does not exist\n'),
            (['plot_curve', str(tmp_path / 'a'), '--keys', 'acc'],
             "error: no run logged 'acc'; logged: lr, data_time, loss, loss_cls, time, "
             'coco/bbox_mAP, coco/bbox_mAP_50\n'),
            (['plot_curve', str(tmp_path / 'a'), '--legend', 'x', 'y'],
             '--legend gives 2 names for 1 run\n')):
        with pytest.raises(SystemExit) as exit_info:
            _tool('analyze_logs').main(argv)
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.endswith(message)


def test_compare_predictions_exit_status_says_whether_the_detections_are_the_same(tmp_path,
                                                                                   capsys):
    from tests.test_analysis.test_twins import perturbed, random_predictions
    first = random_predictions(3)
    paths = [tmp_path / 'checkpoint.pkl', tmp_path / 'onnx.pkl', tmp_path / 'int8.pkl']
    for path, data in zip(paths, [first, perturbed(first, 4),
                                  perturbed(first, 5, score=0.02, box=1.0)]):
        with open(path, 'wb') as f:
            pickle.dump(data, f)
    tool = _tool('compare_predictions')
    assert tool.main([str(p) for p in paths[:2]]) == 0
    out = capsys.readouterr().out
    assert 'twins (same image and class, score within 0.0001, box within 0.01 px): 150' in out
    assert out.rstrip().endswith('the same detections')
    assert tool.main([str(paths[0]), str(paths[2]), '--show', '2']) == 1
    out = capsys.readouterr().out
    assert 'checkpoint.pkl, without a twin (highest scores first):' in out
    assert '  ... (' in out and out.rstrip().endswith('different detections')  # over --show 2
    assert tool.main([str(paths[0]), str(paths[2]), '--score-tol', '0.02', '--box-tol', '1']) == 0
    assert ': 150;' in capsys.readouterr().out


def test_compare_predictions_config_makes_a_tie_at_its_threshold_a_tie(tmp_path, capsys):
    """The quickstart config cuts at score 0.05: a detection scoring 0.05003 in one file and
    (unseen) just under 0.05 in the other is a tie at the cut, not a difference."""
    from tests.test_analysis.test_twins import image
    paths = [tmp_path / 'checkpoint.pkl', tmp_path / 'onnx.pkl']
    for path, scores in zip(paths, [[0.9, 0.05003], [0.9]]):
        with open(path, 'wb') as f:
            pickle.dump([image(1, [[0, 0, 10, 10], [20, 20, 40, 40]][:len(scores)], scores,
                               [0] * len(scores))], f)
    tool = _tool('compare_predictions')
    assert tool.main([str(p) for p in paths]) == 1
    assert 'without a twin: 1 in checkpoint.pkl, 0 in onnx.pkl' in capsys.readouterr().out
    config = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    assert tool.main([str(p) for p in paths] + ['--config', config]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the models' score threshold (--config): 0.05\n")
    assert 'with the score threshold): 1 in checkpoint.pkl, 0 in onnx.pkl' in out
    assert tool.main([str(p) for p in paths] + ['--config', config, '--score-thr', '0.5']) == 0
    assert 'detections: 1 in checkpoint.pkl, 1 in onnx.pkl' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(p) for p in paths] + ['--config', str(tmp_path / 'none.py')])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f'error: config file not found: {tmp_path}')


@pytest.mark.parametrize('args, message', [
    (['{d}/a.pkl', '{d}/none.pkl'], 'error: {d}/none.pkl can not be found.'),
    (['{d}/a.pkl', '{d}/other.pkl'], 'error: the files hold different images: 1 only in a.pkl'),
])
def test_compare_predictions_bad_inputs_are_one_line_errors(args, message, tmp_path, capsys):
    from tests.test_analysis.test_twins import image
    for name, img_id in [('a.pkl', 1), ('other.pkl', 2)]:
        with open(tmp_path / name, 'wb') as f:
            pickle.dump([image(img_id, [], [], [])], f)
    with pytest.raises(SystemExit) as exit_info:
        _tool('compare_predictions').main([a.format(d=tmp_path) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(d=tmp_path)) and err.count('\n') == 1


def test_browse_dataset_names_the_images_left_without_a_box(tmp_path, capsys, monkeypatch):
    """The tool's summary, its default folder (under the working directory) and errors: a val
    image whose annotations were removed is drawn and named."""
    import json
    from ghostdet.datasets import make_synthetic_coco
    make_synthetic_coco(tmp_path / 'data', num_train=2, num_val=3, num_test=1, seed=0)
    val = tmp_path / 'data/annotations/val.json'
    coco = json.loads(val.read_text())
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] != 2]
    val.write_text(json.dumps(coco))
    monkeypatch.chdir(tmp_path)
    config = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    records = _tool('browse_dataset').main([
        config, '--split', 'val', '--cfg-options',
        f'val_dataloader.dataset.data_root={tmp_path}/data/'])
    out = capsys.readouterr().out
    folder = 'work_dirs/retinanet_ghostnet-1.0x_fpn_12e_synthetic/browse_val'
    boxes = sum(len(r['boxes']) for r in records)
    assert (f'drew 3 val images after the val pipeline, {boxes} boxes, to {folder}; all of '
            f'them: {folder}/overview.png\n1 with no box: val_00001.jpg\n') in out
    assert sorted(p.name for p in (tmp_path / folder).iterdir()) == [
        'overview.png', 'val_00000.jpg', 'val_00001.jpg', 'val_00002.jpg']
    with pytest.raises(SystemExit) as exit_info:
        _tool('browse_dataset').main([config, '--split', 'val'])  # data/synthetic/ is not here
    assert exit_info.value.code == 2
    assert 'val_dataloader.dataset.ann_file (annotation file) not found' in \
        capsys.readouterr().err


def test_worst_images_prints_the_table_and_says_when_nothing_is_wrong(tmp_path, capsys):
    import json
    from ghostdet.datasets import make_synthetic_coco
    make_synthetic_coco(tmp_path / 'data', num_train=1, num_val=1, num_test=2, seed=0)
    coco = json.loads((tmp_path / 'data/annotations/test.json').read_text())

    def predictions(drop_from):  # the boxes themselves, less image 2's from index drop_from
        out = []
        for image in coco['images']:
            anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
            if image['id'] == 2:
                anns = anns[:drop_from]
            out.append(dict(img_id=image['id'], pred_instances=dict(
                bboxes=torch.tensor([[x, y, x + w, y + h] for x, y, w, h in
                                     (a['bbox'] for a in anns)]).reshape(-1, 4),
                scores=torch.full((len(anns),), 0.9),
                labels=torch.tensor([a['category_id'] - 1 for a in anns], dtype=torch.long))))
        return out

    config = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    options = ['--cfg-options', f'test_dataloader.dataset.data_root={tmp_path}/data/']
    pkl = tmp_path / 'results.pkl'
    pkl.write_bytes(pickle.dumps(predictions(None)))
    assert _tool('worst_images').main([config, str(pkl)] + options) == []
    assert 'none of the 2 test images has an error' in capsys.readouterr().out
    pkl.write_bytes(pickle.dumps(predictions(1)))
    boxes = len([a for a in coco['annotations'] if a['image_id'] == 2])
    _tool('worst_images').main([config, str(pkl)] + options)
    out = capsys.readouterr().out
    assert ('the 1 of 2 test images with the most errors (green: found, red: missed, '
            'magenta: found as another class, orange: on no box)') in out
    assert f'| test_00001.jpg | {boxes} | 1 | {boxes - 1} | 0 | 0 |' in out
    assert f'wrote them to {tmp_path}/worst; all of them: {tmp_path}/worst/overview.png' in out
    assert (tmp_path / 'worst/test_00001.jpg').exists()
    torch.save({'state_dict': {}}, tmp_path / 'model.pth')
    with pytest.raises(SystemExit) as exit_info:
        _tool('worst_images').main([config, str(tmp_path / 'model.pth')] + options)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith('error: ')


def test_light_benchmark_prints_one_table_with_the_cpu_and_command(tmp_path, capsys):
    light = str(REPO / 'configs/rtmdet/rtmdet_ghostnet-0.5x_ghost-pan_300e_coco.py')
    out_file = tmp_path / 'table.md'
    text = _tool('light_benchmark').main([
        '--detector', f'base={light}', f'light={light}', '--baseline', 'base', '--runtimes',
        'PyTorch', '--threads', '1', '--runs', '1', '--warmup', '0', '--shape', '64', '64',
        '--mac-shapes', '64', '64', '--out', str(out_file)])
    assert capsys.readouterr().out == text + '\n' and out_file.read_text() == text + '\n'
    lines = text.splitlines()
    assert lines[0].startswith('CPU: ') and ' cores, ' in lines[0]
    assert 'Command: `python tools/analysis/light_benchmark.py --detector' in lines[0]
    assert '3 classes, batch 1, timed at 64x64' in text and 'ratio to base' in text
    assert lines[-4] == '| detector | params (M) | GMACs 64x64 | PyTorch, 1 thread (ms) |'
    assert lines[-2].startswith('| base | ') and lines[-1].startswith('| light | ')
    assert lines[-2].split(' | ')[2] == lines[-1].split(' | ')[2]  # one config, same MACs


@pytest.mark.parametrize('args, message', [
    (['--mac-shapes', '64'], '--mac-shapes takes H W pairs'),
    (['--detector', 'nope.py'], 'expected NAME=CONFIG'),
    (['--detector', 'a=nope.py'], 'error: config file not found: nope.py'),
    (['--detector', f'a={REPO}/configs/rtmdet/rtmdet_ghostnet-0.5x_ghost-pan_300e_coco.py',
      '--baseline', 'b'], "error: --baseline 'b' is not a row: ['a']"),
])
def test_light_benchmark_bad_arguments_are_refused_before_any_work(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _tool('light_benchmark').main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
