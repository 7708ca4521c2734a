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
