import sys
import types

import pytest
import torch
import torch.nn as nn

from ghostdet.study.peers import (PEER, MMDetTestStep, PeerUnavailable,
                                  build_torchvision_peer, mmdet_test_data, peer_images,
                                  peer_latency)

QUICKSTART = 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py'


class FakePeer(nn.Module):
    """Stands in for torchvision's detector: records what it is given."""

    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs
        self.conv = nn.Conv2d(3, 4, 3)
        self.calls = []

    def forward(self, images):
        self.calls.append([tuple(i.shape) for i in images])
        return [dict(boxes=self.conv(i[None]).flatten()[:4]) for i in images]


@pytest.fixture
def fake_torchvision(monkeypatch):
    built = []

    def builder(**kwargs):
        built.append(FakePeer(**kwargs))
        return built[-1]

    detection = types.ModuleType('torchvision.models.detection')
    setattr(detection, PEER, builder)
    models = types.ModuleType('torchvision.models')
    models.detection = detection
    tv = types.ModuleType('torchvision')
    tv.models = models
    for name, module in (('torchvision', tv), ('torchvision.models', models),
                         ('torchvision.models.detection', detection)):
        monkeypatch.setitem(sys.modules, name, module)
    return built


def test_peer_is_built_without_any_download(fake_torchvision):
    model = build_torchvision_peer()
    assert model.kwargs == dict(weights=None, weights_backbone=None)
    assert not model.training
    with pytest.raises(PeerUnavailable, match="no 'nope'"):
        build_torchvision_peer('nope')


def test_missing_torchvision_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, 'torchvision', None)
    with pytest.raises(PeerUnavailable, match='torchvision is not importable'):
        build_torchvision_peer()
    results, missing = peer_latency([QUICKSTART], (64, 96), (1, ), runs=1, warmup=0)
    assert 'not importable' in missing
    assert [r.name for r in results] == ['retinanet_ghostnet-1.0x_fpn_12e_synthetic']


def test_both_sides_get_the_same_batch(fake_torchvision):
    results, missing = peer_latency([QUICKSTART], (64, 96), (1, 3), runs=2, warmup=1)
    assert missing is None
    assert [(r.name, r.batch_size) for r in results] == [
        (f'torchvision {PEER}', 1), ('retinanet_ghostnet-1.0x_fpn_12e_synthetic', 1),
        (f'torchvision {PEER}', 3), ('retinanet_ghostnet-1.0x_fpn_12e_synthetic', 3)]
    peer = fake_torchvision[0]
    assert peer.calls == [[(3, 64, 96)]] * 3 + [[(3, 64, 96)] * 3] * 3  # warm-up + runs


def test_inputs_and_test_step():
    images = peer_images((20, 30), 2)
    assert [tuple(i.shape) for i in images] == [(3, 20, 30)] * 2
    assert all(0 <= float(i.min()) and float(i.max()) <= 1 for i in images)
    from ghostdet.apis import build_detector

    model = build_detector(QUICKSTART)
    data = mmdet_test_data(model, (64, 96), 2)
    with torch.no_grad():
        out = MMDetTestStep(model)(data)
    assert len(out) == 2 and hasattr(out[0], 'pred_instances')


def test_peer_benchmark_tool_tables(fake_torchvision, tmp_path, capsys):
    from tests.test_tools.test_analysis_tools import _tool

    out = tmp_path / 'peer.md'
    text = _tool('peer_benchmark').main(
        [QUICKSTART, '--shape', '64', '96', '--batch-sizes', '1', '2', '--runs', '2',
         '--warmup', '0', '--threads', '1', '--out', str(out)])
    assert out.read_text() == text
    assert '## batch 1, fp32' in text and '## batch 2, fp32' in text
    assert f'vs torchvision {PEER} |' in text
    peer_rows = [line for line in text.splitlines() if line.startswith('| torchvision')]
    assert len(peer_rows) == 2 and all(row.endswith(' 1.00x |') for row in peer_rows)
    with pytest.raises(SystemExit):
        _tool('peer_benchmark').main(['--amp'])
    assert '--amp (fp16 autocast) needs --device cuda' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        _tool('peer_benchmark').main([QUICKSTART, str(tmp_path / 'nope.py')])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f'error: config file not found: {tmp_path}/nope.py\n'
