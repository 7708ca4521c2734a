"""tools/quickstart.py end to end, shortened to a few iterations: data, training, test mAP,
demo picture."""
import re

from tests.test_tools.test_train_test_demo import run_tool


def test_quickstart_runs_end_to_end(tmp_path):
    data_root = tmp_path / 'synthetic'
    work_dir = tmp_path / 'work'
    result = run_tool(['tools/quickstart.py', '--data-root', data_root, '--work-dir', work_dir,
                       '--cfg-options', 'train_cfg.max_epochs=1',
                       'train_dataloader.dataset.indices=16', 'model.test_cfg.score_thr=0.0'],
                      timeout=600)
    log = result.stdout + result.stderr
    assert (data_root / 'annotations' / 'test.json').exists()
    for step in ('1/4 dataset', '2/4 training', '3/4 evaluating', '4/4 demo'):
        assert f'[quickstart] {step}' in log
    assert re.search(r'\[quickstart\] test bbox mAP \d\.\d{3} \(mAP@50 \d\.\d{3}', log)
    assert (work_dir / 'demo' / 'vis' / 'test_00000.jpg').exists()
    assert (work_dir / 'demo' / 'predictions.json').exists()
    # its 12-epoch cosine schedule cut at epoch 1: said once, by the training step
    assert result.stderr.count('warning: train_cfg.max_epochs is 1, but param_scheduler.1 '
                               '(CosineAnnealingLR) still ends at epoch 12') == 1
