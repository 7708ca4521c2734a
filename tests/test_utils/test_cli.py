import argparse

import pytest
import torch

from ghostdet.utils.checkpoint import UnsafeCheckpointError
from ghostdet.utils.cli import (fraction, input_errors, non_negative_float, non_negative_int,
                                positive_float, positive_fraction, positive_int, torch_device)


@pytest.mark.parametrize('error, message', [
    (FileNotFoundError('config file not found: x.py'), 'config file not found: x.py'),
    (KeyError('--show-dir needs a visualization hook'), '--show-dir needs a visualization hook'),
    (ValueError('--out must be a .pkl file, got x.json'), '--out must be a .pkl file, got x.json'),
    (RuntimeError('--amp needs a CUDA device'), '--amp needs a CUDA device'),
    (UnsafeCheckpointError('refused to load r.pkl: ...'), 'refused to load r.pkl: ...'),
])
def test_an_input_error_is_one_line_and_exit_2(error, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        with input_errors():
            raise error
    assert exit_info.value.code == 2
    assert exit_info.value.__cause__ is error  # kept for a debugger
    assert capsys.readouterr().err == f'error: {message}\n'  # KeyError's quotes dropped


def test_other_errors_keep_their_traceback_and_the_code_is_chosen(capsys):
    with pytest.raises(TypeError):
        with input_errors():
            raise TypeError('a bug, not an input')
    with pytest.raises(SystemExit) as exit_info:
        with input_errors(code=3):
            raise FileNotFoundError('gone')
    assert exit_info.value.code == 3
    with input_errors():
        pass
    assert capsys.readouterr().err == 'error: gone\n'


@pytest.mark.parametrize('kind, good, bad, wanted', [
    (positive_int, [('1', 1), ('800', 800)], ['0', '-3', '1.5', 'x'], 'a positive integer'),
    (non_negative_int, [('0', 0), ('10', 10)], ['-1', 'ten'], 'an integer >= 0'),
    (positive_float, [('0.5', 0.5), ('30', 30.0)], ['0', '-1', 'inf', 'nan', 's'],
     'a positive number'),
    (non_negative_float, [('0', 0.0), ('1e-4', 1e-4), ('2', 2.0)], ['-1e-9', 'inf', 'nan', 't'],
     'a number >= 0'),
    (fraction, [('0', 0.0), ('0.3', 0.3), ('1', 1.0)], ['-0.1', '1.5', 'nan', 'high'],
     'a number from 0 to 1'),
    (positive_fraction, [('0.5', 0.5), ('1', 1.0)], ['0', '1.01', 'nan'],
     'a number above 0, at most 1'),
])
def test_number_types_take_what_they_should_and_say_what_they_wanted(kind, good, bad, wanted):
    for text, value in good:
        assert kind(text) == value and type(kind(text)) is type(value)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=f'must be {wanted}, but got'):
            kind(text)


def test_a_bad_number_is_a_usage_error_naming_the_option(capsys):
    parser = argparse.ArgumentParser(prog='tool')
    parser.add_argument('--shape', type=positive_int, nargs=2)
    assert parser.parse_args(['--shape', '480', '640']).shape == [480, 640]
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(['--shape', '0', '640'])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(
        'tool: error: argument --shape: must be a positive integer, but got 0\n')


@pytest.mark.parametrize('cuda_devices', [0, 2])
def test_torch_device_takes_what_this_machine_has(cuda_devices, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda_devices > 0)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: cuda_devices)
    assert torch_device('cpu') == 'cpu'
    for text in ('gpu', 'CUDA', 'cuda:x', 'cuda:', 'cpu:0'):
        with pytest.raises(argparse.ArgumentTypeError,
                           match=f"^must be cpu, cuda or cuda:N, but got '{text}'$"):
            torch_device(text)
    if cuda_devices:
        assert [torch_device(t) for t in ('cuda', 'cuda:0', 'cuda:1')] == [
            'cuda', 'cuda:0', 'cuda:1']
        with pytest.raises(argparse.ArgumentTypeError,
                           match=r'^cuda:2 is not a device here: torch finds 2 \(cuda:0 to '
                           r'cuda:1\)$'):
            torch_device('cuda:2')
    else:
        with pytest.raises(argparse.ArgumentTypeError,
                           match='^cuda:0 needs a CUDA device, but torch .* finds none here$'):
            torch_device('cuda:0')
