from pathlib import Path

import pytest

from ghostdet.apis import check_demo_inputs, collect_images
from tests.helpers import REPO

CONFIG = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for name in ('b.jpg', 'a.PNG', 'notes.txt'):
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'c.jpeg').write_bytes(b'x')
    return tmp_path


def test_collect_images_from_files_folders_and_globs(images):
    assert collect_images(str(images)) == [str(images / 'a.PNG'), str(images / 'b.jpg')]
    assert collect_images([str(images / 'b.jpg'), str(images / '**' / '*.jpeg')]) == [
        str(images / 'b.jpg'), str(images / 'sub' / 'c.jpeg')]
    # a file named explicitly is taken as it is (the image reader judges it); folders and globs
    # keep image suffixes only
    assert collect_images(str(images / 'notes.txt')) == [str(images / 'notes.txt')]
    with pytest.raises(FileNotFoundError, match=r"no images found at '.*\*.txt'"):
        collect_images(str(images / '*.txt'))
    with pytest.raises(FileNotFoundError, match='no images found at .*sub2'):
        collect_images([str(images), str(images / 'sub2')])


def test_demo_inputs_are_checked_before_a_model_is_built(images, tmp_path):
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'x')  # existence is checked here; its content by the loader
    assert check_demo_inputs(CONFIG, str(checkpoint), str(images)) == collect_images(str(images))
    assert check_demo_inputs(CONFIG, None, str(images))  # random weights
    with pytest.raises(ValueError, match=r'score_thr must be in \[0, 1\], got 1.5'):
        check_demo_inputs(CONFIG, str(checkpoint), str(images), score_thr=1.5)
    with pytest.raises(FileNotFoundError, match='config file not found: .*nope.py'):
        check_demo_inputs(str(tmp_path / 'nope.py'), str(checkpoint), str(images))
    assert check_demo_inputs('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py', None, str(images))
    with pytest.raises(FileNotFoundError, match=r'config file not found: mmdet::nope.py \('):
        check_demo_inputs('mmdet::nope.py', None, str(images))
    with pytest.raises(FileNotFoundError, match='checkpoint not found: .*nope.pth'):
        check_demo_inputs(CONFIG, str(tmp_path / 'nope.pth'), str(images))
    with pytest.raises(FileNotFoundError, match='no images found'):
        check_demo_inputs(CONFIG, str(checkpoint), str(tmp_path / 'none'))
