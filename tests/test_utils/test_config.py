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
