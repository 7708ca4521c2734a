import pytest
import torch

from ghostdet.apis import build_detector
from ghostdet.models import padded_shape, synthetic_batch, synthetic_rois, synthetic_train_batch
from tests.helpers import REPO


def test_build_our_config_and_synthetic_batch():
    model = build_detector(REPO / 'configs/ghostnet/retinanet_ghostnet-1.0x_fpn_1x_coco.py')
    assert type(model).__name__ == 'RetinaNet' and not model.training
    inputs, samples = synthetic_batch(model, (50, 70), batch_size=2)
    assert inputs.shape == (2, 3, 64, 96)
    assert samples[0].img_shape == (50, 70) and samples[1].batch_input_shape == (64, 96)
    with torch.no_grad():
        results = model.predict(inputs, samples)
    assert len(results) == 2
    assert synthetic_batch(model, (50, 70), pad=False)[0].shape == (1, 3, 50, 70)
    with pytest.raises(ValueError):
        synthetic_batch(model, (50, 70), batch_size=0)


def test_synthetic_rois_inside_image():
    rois = synthetic_rois(200, 60, 90)
    assert rois.shape == (200, 5)
    assert torch.all(rois[:, 0] == 0)
    assert torch.all(rois[:, 1] >= 0) and torch.all(rois[:, 3] <= 90 + 1e-4)
    assert torch.all(rois[:, 2] >= 0) and torch.all(rois[:, 4] <= 60 + 1e-4)
    assert torch.all(rois[:, 3] > rois[:, 1]) and torch.all(rois[:, 4] > rois[:, 2])
    assert torch.equal(rois, synthetic_rois(200, 60, 90))


def test_padded_shape():
    assert padded_shape((800, 1333), 32) == (800, 1344)
    assert padded_shape((33, 64), 1) == (33, 64)


def test_synthetic_train_batch_checks_arguments():
    model = build_detector('configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    with pytest.raises(ValueError, match='must be positive'):
        synthetic_train_batch(model, batch_size=0)
