import json
import shutil
from pathlib import Path

import pytest

from ghostdet.apis import check_demo_inputs, collect_images, picture_names, run_demo
from ghostdet.datasets import make_synthetic_coco
from ghostdet.models import NeckChannelsMismatchError
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
    # a file reached twice (named, and in its folder) is listed once, where first reached
    assert collect_images([str(images / 'b.jpg'), str(images), str(images / 'b.jpg')]) == [
        str(images / 'b.jpg'), str(images / 'a.PNG')]


def test_picture_names_keep_file_names_unless_two_share_one():
    assert picture_names(['cam1/0001.jpg', 'cam1/0002.jpg']) == ['0001.jpg', '0002.jpg']
    assert picture_names(['data/cam1/0001.jpg', 'data/cam2/0001.jpg', 'data/x.jpg']) == [
        'cam1/0001.jpg', 'cam2/0001.jpg', 'x.jpg']
    assert picture_names(['/a/b/1.jpg', '/a/c/d/1.jpg']) == ['b/1.jpg', 'c/d/1.jpg']


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


@pytest.fixture(scope='module')
def demo_images(tmp_path_factory) -> Path:
    """Six synthetic test images in two folders, two sharing a file name, and a corrupt one."""
    root = tmp_path_factory.mktemp('demo_data')
    make_synthetic_coco(root, num_train=1, num_val=1, num_test=4, seed=0)
    folder = root / 'frames'
    for cam, names in (('cam1', ['test_00000.jpg', 'test_00001.jpg']),
                       ('cam2', ['test_00000.jpg', 'test_00002.jpg', 'test_00003.jpg'])):
        (folder / cam).mkdir(parents=True)
        for name in names:
            shutil.copy(root / 'images' / name, folder / cam / name)
    (folder / 'cam2' / 'broken.jpg').write_bytes(b'not a jpeg')
    return folder


def test_demo_skips_an_unreadable_image_and_overwrites_no_picture(demo_images, tmp_path,
                                                                   capsys):
    out = tmp_path / 'demo'
    predictions = run_demo(CONFIG, None, str(demo_images / '**' / '*.jpg'), str(out),
                           score_thr=0.0)
    assert [Path(p['image']).relative_to(demo_images).as_posix() for p in predictions] == [
        'cam1/test_00000.jpg', 'cam1/test_00001.jpg', 'cam2/test_00000.jpg',
        'cam2/test_00002.jpg', 'cam2/test_00003.jpg']
    assert json.loads((out / 'predictions.json').read_text()) == predictions
    pictures = sorted(p.relative_to(out / 'vis').as_posix() for p in (out / 'vis').rglob('*.jpg'))
    assert pictures == ['cam1/test_00000.jpg', 'cam1/test_00001.jpg', 'cam2/test_00000.jpg',
                        'cam2/test_00002.jpg', 'cam2/test_00003.jpg']
    captured = capsys.readouterr()
    assert f'skipped: image file {demo_images / "cam2" / "broken.jpg"} is corrupt' \
        in captured.err
    assert 'wrote the detections of 5 images to ' in captured.out
    assert '; skipped 1 unreadable: ' in captured.out
    assert '] 6/6, ' in captured.out  # the progress bar counted every file, the skipped too


def test_demo_stopped_midway_keeps_the_predictions_made(demo_images, tmp_path, monkeypatch,
                                                        capsys):
    import mmdet.apis
    detect, calls = mmdet.apis.inference_detector, []

    def stopped_at_the_third(model, image, **kwargs):
        calls.append(image)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return detect(model, image, **kwargs)

    monkeypatch.setattr(mmdet.apis, 'inference_detector', stopped_at_the_third)
    out = tmp_path / 'demo'
    with pytest.raises(KeyboardInterrupt):
        run_demo(CONFIG, None, str(demo_images / 'cam2'), str(out), draw=False)
    saved = json.loads((out / 'predictions.json').read_text())
    assert [Path(p['image']).name for p in saved] == ['test_00000.jpg', 'test_00002.jpg']
    out = capsys.readouterr().out  # broken.jpg skipped, 2 detected
    assert 'wrote the detections of 2 images to ' in out and 'their pictures' not in out
    assert 'stopped after 3 of 4 images' in out


@pytest.mark.parametrize('every,on_disk', [(0.0, 2), (1e9, None)])
def test_demo_saves_its_predictions_while_it_runs(demo_images, tmp_path, monkeypatch, every,
                                                  on_disk):
    """What a SIGKILL at the third image would leave: predictions.json with the first two
    images' detections when it is due to be saved after each image; none yet when not due."""
    import mmdet.apis

    from ghostdet.apis import inference
    detect, seen, on_disk_now = mmdet.apis.inference_detector, [], []
    out = tmp_path / 'demo'

    def reads_the_file_at_the_third(model, image, **kwargs):
        seen.append(image)
        if len(seen) == 3:
            saved = out / 'predictions.json'
            on_disk_now.append(len(json.loads(saved.read_text())) if saved.exists() else None)
        return detect(model, image, **kwargs)

    monkeypatch.setattr(inference, 'SAVE_EVERY_S', every)
    monkeypatch.setattr(mmdet.apis, 'inference_detector', reads_the_file_at_the_third)
    run_demo(CONFIG, None, str(demo_images / 'cam2'), str(out), draw=False)  # 3 readable
    assert len(seen) == 3 and on_disk_now == [on_disk]
    assert len(json.loads((out / 'predictions.json').read_text())) == 3  # the end writes all


def test_demo_names_a_neck_that_does_not_fit_the_backbone(demo_images, tmp_path):
    config = tmp_path / 'swapped.py'
    config.write_text(f"_base_ = '{CONFIG}'\nmodel = dict(backbone=dict(widen_factor=1.1))\n")
    with pytest.raises(NeckChannelsMismatchError, match=r'\[44, 124, 1056\] channels'):
        run_demo(str(config), None, str(demo_images / 'cam1'), str(tmp_path / 'demo'))


def test_demo_refuses_a_checkpoint_of_another_architecture(demo_images, tmp_path):
    """mmdet's init_detector loads what matches and warns; the demo then drew a half-random
    model's boxes and died in the visualizer on a label beyond the checkpoint's 3 classes."""
    import torch

    from ghostdet.apis import build_detector, init_demo_model
    from ghostdet.models.utils import CheckpointMismatchError
    checkpoint = tmp_path / 'quickstart.pth'
    torch.save({'state_dict': build_detector(CONFIG).state_dict(),
                'meta': {'dataset_meta': {'classes': ('circle', 'square', 'triangle')}}},
               checkpoint)
    model = init_demo_model(CONFIG, str(checkpoint))
    assert model.dataset_meta['classes'] == ('circle', 'square', 'triangle')
    coco = str(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py')
    out = tmp_path / 'demo'
    with pytest.raises(CheckpointMismatchError, match=r'quickstart\.pth does not match'):
        run_demo(coco, str(checkpoint), str(demo_images / 'cam1'), str(out))
    assert not out.exists()  # nothing drawn or written


def test_demo_model_is_folded_after_its_checkpoint_is_loaded(tmp_path):
    """A GhostNetV3 detector's training-form checkpoint loads whole, then the demo runs the
    folded (deployed) model, which computes what the trained one computes."""
    import torch

    from ghostdet.models import randomize_batchnorm
    from ghostdet.apis import init_demo_model
    from ghostdet.utils.registry import build_model
    from mmengine.config import Config
    config = tmp_path / 'v3.py'
    config.write_text(f"_base_ = '{CONFIG}'\nmodel = dict(backbone=dict(type='GhostNetV3'))\n")
    trained = randomize_batchnorm(build_model(Config.fromfile(config).model)).eval()
    assert [k for k in trained.state_dict() if '_rpr_' in k]
    checkpoint = tmp_path / 'v3.pth'
    torch.save({'state_dict': trained.state_dict()}, checkpoint)
    model = init_demo_model(str(config), str(checkpoint))
    assert [k for k in model.state_dict() if '_rpr_' in k] == []
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model.extract_feat(x), trained.extract_feat(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-4 * float(b.abs().max()))


def test_demo_reads_each_image_once_as_the_test_pipeline_would(demo_images, tmp_path,
                                                               monkeypatch):
    """The demo detects from its own read of the image, with the loader settings of the test
    pipeline: a photo with an EXIF orientation tag is turned upright (cv2's ``color``) or not
    (``color_ignore_orientation``) as the pipeline's own loader turns it, and the detections
    equal mmdet's ``inference_detector`` reading the file."""
    import mmengine.fileio
    import torch
    from mmdet.apis import inference_detector
    from mmengine.config import Config
    from PIL import Image

    from ghostdet.apis import init_demo_model
    photo = tmp_path / 'photos' / 'upright_when_turned.jpg'
    photo.parent.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to show
    Image.open(demo_images / 'cam1' / 'test_00000.jpg').save(photo, exif=exif.tobytes())
    for color_type, size in (('color', (256, 320)), ('color_ignore_orientation', (320, 256))):
        cfg = Config.fromfile(CONFIG)
        cfg.test_dataloader.dataset.pipeline[0].color_type = color_type
        torch.manual_seed(0)
        model = init_demo_model(cfg, None)
        reads = []
        with monkeypatch.context() as patch:
            get = mmengine.fileio.get
            patch.setattr(mmengine.fileio, 'get', lambda path, **kw: reads.append(path) or get(
                path, **kw))
            (prediction,) = run_demo(cfg, None, str(photo), str(tmp_path / color_type),
                                     score_thr=0.0, model=model)
        assert reads == [str(photo)]  # mmdet's loader would read it a second time
        assert (prediction['width'], prediction['height']) == size, color_type
        expected = inference_detector(model, str(photo)).pred_instances
        assert prediction['scores'] == [round(float(s), 4) for s in expected.scores]
        assert prediction['boxes'] == [[round(float(v), 2) for v in box]
                                       for box in expected.bboxes]


def test_demo_model_with_inference_options(demo_images, tmp_path, capsys):
    """The options are applied (checked) once the model is loaded, and the demo detects
    what the model without them detects; options the device cannot run are refused before
    anything is built."""
    import torch

    from ghostdet.apis import init_demo_model
    from ghostdet.models import InferenceOptions

    with pytest.raises(ValueError, match='^cuda_graph needs a CUDA device, but the model runs '
                       'on cpu$'):
        init_demo_model(CONFIG, str(tmp_path / 'never_read.pth'), 'cpu',
                        InferenceOptions(cuda_graph=True))
    torch.manual_seed(0)
    plain = init_demo_model(CONFIG, None)
    torch.manual_seed(0)
    fast = init_demo_model(CONFIG, None, 'cpu', InferenceOptions(fuse_bn=True,
                                                                 channels_last=True))
    assert 'inference options: fuse_bn + channels_last; 80 BatchNorm' in capsys.readouterr().out
    images = str(demo_images / 'cam1')
    want = run_demo(CONFIG, None, images, str(tmp_path / 'plain'), score_thr=0.0, model=plain,
                    draw=False)
    got = run_demo(CONFIG, None, images, str(tmp_path / 'fast'), score_thr=0.0, model=fast,
                   draw=False)
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        assert g['labels'][:10] == w['labels'][:10]
        assert g['scores'][:10] == pytest.approx(w['scores'][:10], abs=2e-4)
