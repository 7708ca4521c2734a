import pytest
import torch

from ghostdet.models import InferenceOptions
from ghostdet.study.options_speed import (CPU_VARIANTS, SpeedRow, format_speed_tables,
                                          options_speed)
from tests.helpers import REPO

QUICKSTART = str(REPO / 'configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')


def test_tables_time_each_checked_variant_side_by_side_on_cpu():
    groups = []
    rows, missing = options_speed([QUICKSTART], shapes=[(64, 64)], batch_sizes=[1, 2],
                                  backbone_shapes=[(32, 32)], device='cpu', runs=1, warmup=0,
                                  threads=1, on_group=lambda rows: groups.append(len(rows)))
    assert groups == [2, 4, 5, 6]  # backbones per batch size, then the detector per batch size
    assert missing is None or 'torchvision' in missing
    assert [(r.kind, r.name, r.shape, r.batch_size) for r in rows] == [
        ('backbone', 'GhostNet 1.0x', (32, 32), 1), ('backbone', 'MobileNetV3-Large', (32, 32), 1),
        ('backbone', 'GhostNet 1.0x', (32, 32), 2), ('backbone', 'MobileNetV3-Large', (32, 32), 2),
        ('detector', 'retinanet_ghostnet-1.0x_fpn_12e_synthetic', (64, 64), 1),
        ('detector', 'retinanet_ghostnet-1.0x_fpn_12e_synthetic', (64, 64), 2)]
    for row in rows:
        assert list(row.ms) == list(CPU_VARIANTS) and all(ms > 0 for ms in row.ms.values())
        assert list(row.checked) == ['fastest'] and row.checked['fastest'] < 1e-4
        assert row.errors == {}
    text = format_speed_tables(rows)
    assert '| GhostNet 1.0x | 32x32 | 1 | ' in text and '| 32x32 | 2 | ' in text
    assert '- backbone GhostNet 1.0x / MobileNetV3-Large, 32x32, batch 1, fastest: ' in text
    assert '## Detectors, 64x64, batch 2: whole inference' in text


def test_a_variant_that_fails_its_check_is_reported_and_not_timed(monkeypatch):
    from ghostdet.models import inference_options

    def channels_last_that_breaks(model):
        inference_options.to_channels_last(model)
        with torch.no_grad():
            next(model.parameters()).mul_(3.0)

    monkeypatch.setitem(inference_options.STEPS, 'channels_last', channels_last_that_breaks)
    rows, _ = options_speed([], backbone_shapes=[(32, 32)], batch_sizes=[1], device='cpu',
                            runs=1, warmup=0, threads=1)
    for row in rows:
        assert list(row.ms) == ['fp32 eager']
        assert row.errors['fastest'].startswith("channels_last changes the network's outputs")
    text = format_speed_tables(rows)
    assert '## Variants not timed' in text
    assert '- GhostNet 1.0x, 32x32, batch 1, fastest: channels_last changes' in text


def test_format_names_the_targets_against_the_peer_and_fp16_at_batch_8():
    def row(name, batch, **ms):
        return SpeedRow('detector', name, (320, 320), batch, ms=ms)

    peer = 'torchvision fasterrcnn_mobilenet_v3_large_fpn'
    rows = [row(peer, 1, **{'fp32 eager': 10.0, 'AMP fp16 + channels_last': 8.0}),
            row('light', 1, **{'fp32 eager': 6.0, 'fp16': 5.0, 'fastest': 3.0}),
            row('twin', 1, **{'fp32 eager': 5.0, 'fp16': 4.0, 'fastest': 2.5}),
            row('light', 8, **{'fp32 eager': 2.0, 'fp16': 2.2, 'fastest': 1.0})]
    text = format_speed_tables(rows, light='light', twin='twin')
    assert '| light | 6.00 | 5.00 | 3.00 | - | 0.30x | 0.38x |' in text
    assert f'| {peer} | 10.00 | - | - | 8.00 | 0.80x | 1.00x |' in text
    assert "- light, 320x320, batch 1, best vs the peer's best: 0.38x (target <= 0.5)" in text
    assert '- light / twin, 320x320, batch 1, fastest: 1.20x' in text
    assert '- light, 320x320, batch 8, fp16 vs fp32 eager: 1.10x (target <= 1.00)' in text


def test_fp16_variants_are_refused_on_cpu_and_reported():
    rows, _ = options_speed([], backbone_shapes=[(32, 32)], batch_sizes=[1], device='cpu',
                            runs=1, warmup=0, threads=1,
                            variants={'fp32 eager': InferenceOptions(),
                                      'fp16': InferenceOptions(fp16=True)})
    assert all(r.errors == {'fp16': 'fp16 needs a CUDA device, but the model runs on cpu'}
               for r in rows)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='the GPU variants need CUDA')
def test_tables_on_cuda_time_fp16_and_every_option():
    rows, _ = options_speed([QUICKSTART], shapes=[(128, 128)], batch_sizes=[2],
                            backbone_shapes=[(64, 64)], device='cuda', runs=2, warmup=1,
                            peer=None)
    for row in rows:
        assert list(row.ms) == ['fp32 eager', 'fp16', 'fastest'], row.errors
        assert row.checked['fp16'] < 2e-2 and row.checked['fastest'] < 2e-2
