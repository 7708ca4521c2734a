import pytest
import torch
import torch.nn as nn

from ghostdet.analysis import (LatencyResult, benchmark_module, benchmark_modules,
                               format_latency_table, measure_interleaved, measure_latency,
                               module_runner, num_threads)


def _result(times, batch_size=1, name='m'):
    return LatencyResult(name, 'cpu', batch_size, 1, False, 0, list(times))


def test_statistics():
    r = _result(range(1, 11), batch_size=2)
    assert r.runs == 10
    assert r.median_ms == 5.5
    assert r.p10_ms == pytest.approx(1.9)
    assert r.p90_ms == pytest.approx(9.1)
    assert r.ms_per_image == 2.75
    assert r.images_per_s == pytest.approx(1000 * 2 / 5.5)
    assert '2.75 ms/image median' in r.summary()
    assert 'batch 2' in r.summary()
    single = _result([4.0])
    assert single.p10_ms == single.p90_ms == single.median_ms == 4.0


def test_measure_latency_counts_calls_and_reports_progress():
    calls = []
    lines = []
    result = measure_latency(lambda: calls.append(1), runs=7, warmup=3, batch_size=4,
                             name='noop', progress=lines.append, progress_every_s=0.0)
    assert len(calls) == 10
    assert result.runs == 7 and result.warmup == 3 and result.batch_size == 4
    assert all(t >= 0 for t in result.times_ms)
    assert result.threads == torch.get_num_threads()
    assert any('warm-up 1/3' in line for line in lines)
    assert any('run 7/7' in line for line in lines)
    assert lines[-1].strip().startswith('noop:')


def test_measure_latency_silent_and_bad_arguments():
    assert measure_latency(lambda: None, runs=1, warmup=0, progress=None).runs == 1
    with pytest.raises(ValueError):
        measure_latency(lambda: None, runs=0, progress=None)
    with pytest.raises(ValueError):
        measure_latency(lambda: None, warmup=-1, progress=None)


def test_measure_interleaved_alternates_run_by_run():
    calls, lines = [], []
    results = measure_interleaved([('a', lambda: calls.append('a')),
                                   ('b', lambda: calls.append('b'))], runs=4, warmup=2,
                                  progress=lines.append, progress_every_s=1e9)
    assert calls == ['a', 'b'] * 6  # warm-up and timed rounds: one run of each in turn
    assert [r.name for r in results] == ['a', 'b'] and [r.runs for r in results] == [4, 4]
    assert [line.split(':')[0].strip() for line in lines] == ['a', 'b']  # the summaries
    with pytest.raises(ValueError, match='nothing to time'):
        measure_interleaved([], progress=None)


def test_measure_interleaved_records_precisions_other_than_amps():
    lines = []
    results = measure_interleaved([('a', lambda: None), ('b', lambda: None)], runs=1, warmup=0,
                                  progress=lines.append, precisions=['', 'int8'])
    assert [r.precision_name for r in results] == ['fp32', 'int8']
    assert '; cpu, fp32, batch' in lines[0] and '; cpu, int8, batch' in lines[1]
    assert '| b | cpu | int8 | 1 |' in format_latency_table(results)
    with pytest.raises(ValueError, match='1 precisions for 2 functions'):
        measure_interleaved([('a', lambda: None), ('b', lambda: None)], precisions=['int8'])


def test_benchmark_modules_times_each_model_and_restores_modes():
    slow, fast = nn.Sequential(*[nn.Linear(64, 64) for _ in range(20)]), nn.Linear(64, 64)
    slow.train()
    results = benchmark_modules([('slow', slow), ('fast', fast)], torch.rand(8, 64), runs=5,
                                warmup=1, threads=1, progress=None)
    assert [r.name for r in results] == ['slow', 'fast'] and results[0].batch_size == 8
    assert results[0].median_ms > results[1].median_ms
    assert slow.training and fast.training  # as they were (nn.Linear starts in train mode)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the error without CUDA')
def test_cuda_without_gpu_raises():
    with pytest.raises(RuntimeError, match='CUDA'):
        measure_latency(lambda: None, runs=1, device='cuda', progress=None)


def test_amp_needs_cuda():
    with pytest.raises(ValueError, match='CUDA'):
        module_runner(nn.Linear(2, 2), torch.rand(1, 2), amp=True, device='cpu')
    with pytest.raises(ValueError, match='CUDA'):
        benchmark_module(nn.Linear(2, 2), torch.rand(1, 2), amp=True, device='cpu',
                         progress=None)


def test_amp_timing_casts_each_weight_once_per_measurement(monkeypatch):
    """AMP timing enters autocast once around all the runs and keeps autograd off with
    no_grad (autocast reuses its cast weights only outside inference mode), so a weight is
    cast once, not once per forward. Checked with CPU bf16 autocast standing in for CUDA's
    (the cache is the same code): each run casts its input, the weight and bias once."""
    from torch.profiler import profile

    from ghostdet.analysis import latency

    entered = []

    def cpu_autocast(device, amp):
        entered.append(amp)
        return torch.autocast('cpu', dtype=torch.bfloat16)

    monkeypatch.setattr(latency, '_check_amp_device', lambda device: None)
    monkeypatch.setattr(latency, 'amp_context', cpu_autocast)
    model = nn.Linear(16, 16)
    with profile() as prof:
        result = benchmark_module(model, torch.rand(2, 16), runs=5, warmup=2, amp=True,
                                  progress=None)
    casts = sum(e.count for e in prof.key_averages() if e.key == 'aten::_to_copy')
    assert entered == [True] and result.amp and result.runs == 5
    assert casts == 7 + 2  # 7 inputs, then the weight and the bias once


def test_num_threads_restores():
    before = torch.get_num_threads()
    with num_threads(1) as threads:
        assert threads == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with num_threads(None) as threads:
        assert threads == before
    with pytest.raises(ValueError):
        with num_threads(0):
            pass


def test_benchmark_module_runs_model_without_grad_and_restores_mode():
    seen = []

    class Probe(nn.Module):

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x, scale=1.0):
            seen.append((self.training, torch.is_grad_enabled(), scale))
            return self.fc(x) * scale

    model = Probe().train()
    result = benchmark_module(model, torch.rand(5, 3), runs=3, warmup=1, threads=1,
                              progress=None, name='probe', scale=2.0)
    assert result.batch_size == 5 and result.runs == 3 and result.threads == 1
    assert seen == [(False, False, 2.0)] * 4
    assert model.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_fp32_and_amp():
    model = nn.Conv2d(3, 8, 3).cuda()
    x = torch.rand(2, 3, 32, 32, device='cuda')
    for amp in (False, True):
        result = benchmark_module(model, x, runs=3, warmup=1, device='cuda', amp=amp,
                                  progress=None)
        assert result.amp is amp and result.device.startswith('cuda') and result.runs == 3


def test_format_latency_table_ratio():
    table = format_latency_table([_result([2.0], name='a'), _result([4.0], name='base')],
                                 baseline='base')
    lines = table.splitlines()
    assert 'vs base' in lines[0]
    assert lines[2].startswith('| a |') and lines[2].endswith(' 0.50x |')
    assert lines[3].endswith(' 1.00x |')
    assert 'vs' not in format_latency_table([_result([2.0])]).splitlines()[0]


def test_benchmark_train_step_runs_whole_iterations():
    from mmengine.optim import build_optim_wrapper

    from ghostdet.analysis import benchmark_train_step
    from ghostdet.apis import build_detector, load_config
    from ghostdet.models import synthetic_train_batch

    cfg = load_config('configs/quickstart/retinanet_ghostnet-1.0x_fpn_12e_synthetic.py')
    model = build_detector(cfg)
    data = synthetic_train_batch(model, (64, 96), batch_size=2, num_classes=3)
    assert [tuple(i.shape) for i in data['inputs']] == [(3, 64, 96)] * 2
    assert all(i.dtype == torch.uint8 for i in data['inputs'])
    for sample in data['data_samples']:
        boxes = sample.gt_instances.bboxes
        assert boxes.shape == (10, 4)
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        assert (boxes[:, 2] <= 96).all() and (boxes[:, 3] <= 64).all()
        assert set(sample.gt_instances.labels.tolist()) <= {0, 1, 2}
    before = model.bbox_head.retina_cls.weight.detach().clone()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    result = benchmark_train_step(model, data, optim_wrapper, runs=2, warmup=1, progress=None)
    assert result.runs == 2 and result.batch_size == 2 and not result.amp
    assert model.training
    assert not torch.equal(before, model.bbox_head.retina_cls.weight)  # 3 optimizer steps


