import pytest
from mmengine.config import Config

from ghostdet.models.utils import check_weight_files


def test_check_weight_files_names_missing_pretrained_weights_and_load_from(tmp_path):
    weights = tmp_path / 'ghostnet.pth'
    weights.write_bytes(b'')
    cfg = Config(dict(model=dict(
        type='RetinaNet',
        backbone=dict(type='GhostNet', init_cfg=dict(type='Pretrained', checkpoint=str(weights))),
        neck=dict(type='FPN', init_cfg=[dict(type='Xavier', layer='Conv2d'),
                                        dict(type='Pretrained', checkpoint='neck.pth',
                                             prefix='neck.')])),
        load_from=None))
    with pytest.raises(FileNotFoundError, match=(
            r'^my\.py: model\.neck\.init_cfg\.1\.checkpoint not found: neck\.pth \(a local '
            r'path: nothing is downloaded for it; .*trains from scratch\)$')):
        check_weight_files(cfg, 'my.py')
    cfg.model.neck.init_cfg[1].checkpoint = 'torchvision://resnet18'  # left to mmengine
    check_weight_files(cfg, 'my.py')
    cfg.load_from = str(tmp_path / 'epoch_12.pth')
    with pytest.raises(FileNotFoundError, match=r'my\.py: load_from not found: .*epoch_12\.pth'):
        check_weight_files(cfg, 'my.py')
    cfg.load_from = 'https://example.org/epoch_12.pth'
    check_weight_files(cfg, 'my.py')
    weights.unlink()
    with pytest.raises(FileNotFoundError, match=r'model\.backbone\.init_cfg\.checkpoint'):
        check_weight_files(cfg, 'my.py')
    check_weight_files(Config(dict(model=dict(type='RetinaNet'))), 'my.py')  # nothing to load
