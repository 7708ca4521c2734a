import pytest

from ghostdet.study.side_by_side import (LIGHT_BASELINE, LIGHT_DETECTORS, RUNTIMES,
                                            DetectorCostSpeed, cost_and_speed,
                                            cpu_description, format_cost_speed_table)
from ghostdet.analysis.latency import LatencyResult
from ghostdet.utils.config import config_file
from tests.helpers import REPO

LIGHT = str(REPO / 'configs/rtmdet/rtmdet_ghostnet-0.5x_ghost-pan_300e_coco.py')
RTMDET = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'


def test_the_default_rows_exist_and_name_the_baseline():
    names = [name for name, _ in LIGHT_DETECTORS]
    assert LIGHT_BASELINE in names and len(set(names)) == len(names)
    for _, config in LIGHT_DETECTORS:
        path = config_file(config if config.startswith('mmdet::') else str(REPO / config))
        assert path.is_file()


def test_cpu_description_names_the_model_cores_and_instruction_sets():
    text = cpu_description()
    model, cores, isa = text.split(', ', 2)
    assert model and cores.endswith(' cores') and int(cores.split()[0]) >= 1
    assert isa.startswith('none of ') or isa.split()[0] in ('AVX2', 'AVX-512F')


def test_params_and_macs_per_size_and_pytorch_latency_side_by_side():
    rows = cost_and_speed([('light', LIGHT), ('rtmdet', RTMDET)], shape=(64, 64),
                          mac_shapes=[(64, 64), (128, 192)], threads=[1],
                          runtimes=['PyTorch'], num_classes=3, runs=2, warmup=0)
    light, rtmdet = rows
    assert [r.name for r in rows] == ['light', 'rtmdet'] and rtmdet.config == RTMDET
    for row in rows:
        assert list(row.macs) == [(64, 64), (128, 192)]
        # the MACs grow with the area (6 times the pixels), but for convs on pooled maps (SE,
        # channel attention), which cost the same at any size
        assert 5.5 * row.macs[(64, 64)] < row.macs[(128, 192)] <= 6 * row.macs[(64, 64)]
        assert list(row.latency) == [('PyTorch', 1)]
        result = row.latency[('PyTorch', 1)]
        assert result.threads == 1 and result.runs == 2 and result.ms_per_image > 0
    assert light.macs[(64, 64)] < 0.5 * rtmdet.macs[(64, 64)]
    assert light.params < rtmdet.params
    eighty = cost_and_speed([('rtmdet', RTMDET)], shape=(64, 64), mac_shapes=[(64, 64)],
                            threads=[1], runtimes=['PyTorch'], runs=1, warmup=0)[0]
    assert eighty.params - rtmdet.params == 3 * 96 * 77 + 3 * 77  # 3 levels' 1x1 cls convs


def test_onnxruntime_float_and_int8_rows():
    row = cost_and_speed([('light', LIGHT)], shape=(64, 64), mac_shapes=[(64, 64)],
                         threads=[1], runtimes=RUNTIMES, num_classes=3, runs=1, warmup=0)[0]
    assert list(row.latency) == [(runtime, 1) for runtime in RUNTIMES]
    assert [r.precision_name for r in row.latency.values()] == ['fp32', 'fp32', 'int8']


def test_unknown_runtime_is_refused_before_any_work():
    with pytest.raises(ValueError, match='runtimes must be some of'):
        cost_and_speed([('light', LIGHT)], runtimes=['TensorRT'])


def fake_row(name, macs, ms):
    row = DetectorCostSpeed(name, f'{name}.py', int(2.5e6), macs={(320, 320): int(macs)})
    for runtime, count in (('PyTorch', 1), ('onnxruntime int8', 2)):
        result = LatencyResult(name, 'cpu', 1, count, False, 0)
        result.times_ms = [ms * count]
        row.latency[(runtime, count)] = result
    return row


def test_table_has_a_column_per_size_runtime_and_thread_count_and_ratios_to_the_baseline():
    rows = [fake_row('base', 2e9, 100.0), fake_row('light', 0.5e9, 60.0)]
    table = format_cost_speed_table(rows, baseline='base').splitlines()
    assert table[0] == ('| detector | params (M) | GMACs 320x320 | PyTorch, 1 thread (ms) '
                        '| onnxruntime int8, 2 threads (ms) |')
    assert table[2] == '| base | 2.50 | 2.00 (1.00x) | 100.0 (1.00x) | 200.0 (1.00x) |'
    assert table[3] == '| light | 2.50 | 0.50 (0.25x) | 60.0 (0.60x) | 120.0 (0.60x) |'
    plain = format_cost_speed_table(rows).splitlines()
    assert plain[3] == '| light | 2.50 | 0.50 | 60.0 | 120.0 |'
    with pytest.raises(ValueError, match="no row named 'other'"):
        format_cost_speed_table(rows, baseline='other')
