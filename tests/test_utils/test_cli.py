import pytest

from ghostdet.utils.checkpoint import UnsafeCheckpointError
from ghostdet.utils.cli import input_errors


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
