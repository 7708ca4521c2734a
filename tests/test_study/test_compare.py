import pytest
import torch

from ghostdet.analysis import LatencyResult
from ghostdet.models import GhostNet
from ghostdet.study.compare import (BackboneRow, DetectorLatency, backbone_latency,
                                    backbone_rows, detector_config, detector_latency,
                                    format_backbone_table, format_detector_latency_table,
                                    machine_description, plot_comparison)
from tests.helpers import REPO

CONFIGS = REPO / 'configs'


def test_backbone_rows_and_table():
    rows = backbone_rows(['GhostNet 1.1x', 'MobileNetV3-Large'])
    ghost = rows[0]
    # the backbone is the classifier minus conv_head (1056 -> 1280) and the classifier
    assert ghost.classifier_macs - ghost.backbone_macs == 1056 * 1280 + 1280 * 1000
    table = format_backbone_table(rows)
    assert '| GhostNet 1.1x |' in table and '| 164 | +0.2% |' in table
    assert '| 219 | -1.1% (classifier) |' in table


def test_detector_config_exact_and_derived():
    cfg, source = detector_config(CONFIGS, 'retinanet', 'GhostNet 1.1x', 'ghost-fpn')
    assert source == 'configs/ghostnet/retinanet_ghostnet-1.1x_ghost-fpn_1x_coco.py'
    assert cfg.model.neck.type == 'GhostFPN'
    cfg, source = detector_config(CONFIGS, 'faster-rcnn', 'GhostNet 0.5x')
    assert source.endswith('faster-rcnn_ghostnet-1.1x_fpn_1x_coco.py + widen_factor=0.5')
    backbone = GhostNet(0.5, out_indices=tuple(cfg.model.backbone.out_indices))
    assert cfg.model.neck.in_channels == list(backbone.out_channels)
    cfg, source = detector_config(CONFIGS, 'retinanet', 'MobileNetV3-Small', 'ghost-fpn')
    assert cfg.model.backbone.arch == 'small' and cfg.model.neck.type == 'GhostFPN'
    assert cfg.model.neck.in_channels == [24, 48, 576]
    with pytest.raises(ValueError):
        detector_config(CONFIGS, 'yolo', 'GhostNet 1.0x')


@pytest.mark.parametrize('name,kind', [('GhostNetV2 1.0x', 'GhostNetV2'),
                                       ('GhostNetV3 1.0x', 'GhostNetV3')])
def test_detector_config_swaps_in_ghostnet_v2_v3_keeping_the_config_s_settings(name, kind):
    v1, _ = detector_config(CONFIGS, 'faster-rcnn', 'GhostNet 1.0x')
    cfg, source = detector_config(CONFIGS, 'faster-rcnn', name)
    assert source.startswith('configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py + '
                             f'type={kind}')
    assert cfg.model.backbone.type == kind
    settings = {k: v for k, v in v1.model.backbone.items() if k != 'type'}
    assert {k: cfg.model.backbone[k] for k in settings} == settings  # taps, norms, freezing
    assert cfg.model.neck.in_channels == v1.model.neck.in_channels


def test_backbone_latency_and_chart(tmp_path):
    results = backbone_latency(['MobileNetV3-Small'], shape=(64, 64), runs=2, warmup=0,
                               threads=1)
    assert results[0].name == 'MobileNetV3-Small' and results[0].runs == 2
    rows = [BackboneRow('MobileNetV3-Small', 1, 56_000_000, 1, 55_000_000)]
    one = LatencyResult('retinanet MobileNetV3-Small FPN', 'cpu', 1, 1, False, 0, [10.0])
    det = [DetectorLatency(one.name, one, one, one), DetectorLatency(one.name, one)]
    path = plot_comparison(rows, results, det, tmp_path / 'c.png', title='t')
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert path.stat().st_size < 300_000


def test_machine_description():
    text = machine_description()
    assert 'CPU' in text and torch.__version__ in text


def test_detector_latency_network_mode_and_table():
    results = detector_latency(CONFIGS, ['MobileNetV3-Large'], algorithms=['faster-rcnn'],
                               necks=['fpn'], shape=(64, 64), runs=1, warmup=0,
                               num_proposals=5, threads=1)
    (r, ) = results
    assert r.name == 'faster-rcnn MobileNetV3-Large FPN'
    assert r.total.runs == 1 and r.backbone.runs == 1 and r.neck.runs == 1
    table = format_detector_latency_table(results, baseline=r.name)
    assert table.splitlines()[2].startswith('| faster-rcnn MobileNetV3-Large FPN |')
    assert table.splitlines()[2].endswith(' 1.00x |')
    tensor = detector_latency(CONFIGS, ['MobileNetV3-Large'], algorithms=['retinanet'],
                              necks=['fpn'], shape=(64, 64), runs=1, warmup=0, threads=1,
                              mode='tensor')
    assert tensor[0].backbone is None and tensor[0].total.runs == 1
    assert '| - | - |' in format_detector_latency_table(tensor)
    with pytest.raises(ValueError, match='mode'):
        detector_latency(CONFIGS, ['MobileNetV3-Large'], mode='fast')
