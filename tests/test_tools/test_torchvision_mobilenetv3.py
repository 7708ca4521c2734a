import subprocess
import sys

import torch

from ghostdet.models import MobileNetV3
from tests.helpers import FIXTURES, REPO, require_shared


def test_converter_cli_output_loads_as_pretrained(tmp_path):
    fixture = torch.load(require_shared(FIXTURES / 'torchvision_mobilenet_v3_large.pt'),
                         weights_only=True)
    src = tmp_path / 'mobilenet_v3_large.pth'
    torch.save({k: v.float() if v.is_floating_point() else v
                for k, v in fixture['state_dict'].items()}, src)
    dst = tmp_path / 'converted.pth'
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools/model_converters/torchvision_mobilenetv3.py'),
         str(src), str(dst)], capture_output=True, text=True, check=True)
    assert 'mobilenet_v3_large' in result.stdout
    model = MobileNetV3('large', out_indices=(0, 1, 2, 3),
                        init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    model.eval()
    with torch.no_grad():
        outs = model(fixture['input'].float())
    assert (outs[3] - fixture['features'][3]).abs().max().item() <= 1e-4


def test_converter_cli_names_a_bad_source_on_one_line(tmp_path):
    script = str(REPO / 'tools/model_converters/torchvision_mobilenetv3.py')
    torch.save({'conv.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    torch.save(torch.zeros(1), tmp_path / 'tensor.pth')
    for src, message in [
            (tmp_path / 'nope.pth', f"No such file or directory: '{tmp_path}/nope.pth'"),
            (tmp_path / 'other.pth', f'{tmp_path}/other.pth is not a torchvision MobileNetV3 '
             'state dict: unexpected key for a torchvision MobileNetV3: conv.weight'),
            (tmp_path / 'tensor.pth', f'{tmp_path}/tensor.pth holds a Tensor, not a state dict')]:
        result = subprocess.run([sys.executable, script, str(src), str(tmp_path / 'out.pth')],
                                capture_output=True, text=True)
        assert result.returncode == 2 and 'Traceback' not in result.stderr
        assert result.stderr.startswith('error: ') and message in result.stderr
    assert not (tmp_path / 'out.pth').exists()
