"""Convert torchvision's ImageNet ``mobilenet_v3_{large,small}`` weights to ghostdet's names.

    python tools/model_converters/torchvision_mobilenetv3.py \
        mobilenet_v3_large-8738ca79.pth checkpoints/mobilenetv3-large_ghostdet.pth

Then point a config at it (nothing is downloaded):
    backbone=dict(type='MobileNetV3', arch='large',
                  init_cfg=dict(type='Pretrained',
                                checkpoint='checkpoints/mobilenetv3-large_ghostdet.pth'))
"""
import argparse
from pathlib import Path

import torch

from ghostdet.models import MobileNetV3
from ghostdet.models.converters import convert_torchvision_mobilenetv3
from ghostdet.models.utils import check_state_dict_keys
from ghostdet.utils.cli import input_errors


def convert(src: str, dst: str) -> str:
    """Convert ``src`` to ``dst`` and check it covers a ghostdet MobileNetV3; return the arch."""
    ckpt = torch.load(src, map_location='cpu', weights_only=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{src} holds a {type(ckpt).__name__}, not a state dict')
    state_dict = ckpt.get('state_dict', ckpt.get('model', ckpt))
    try:
        converted = convert_torchvision_mobilenetv3(state_dict)
    except KeyError as err:  # another network's weights: say which file
        raise ValueError(f'{src} is not a torchvision MobileNetV3 state dict: '
                         f'{err.args[0]}') from err
    arch = 'large' if 'features.16.conv.weight' in converted else 'small'
    check_state_dict_keys(MobileNetV3(arch), converted, source=src)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': converted, 'meta': {'source': str(src), 'arch': arch}}, dst)
    return arch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='torchvision mobilenet_v3_{large,small} state_dict (.pth)')
    parser.add_argument('dst', help='output checkpoint with ghostdet MobileNetV3 names')
    args = parser.parse_args()
    with input_errors():  # a missing or unsafe file, not MobileNetV3's weights: one line, exit 2
        arch = convert(args.src, args.dst)
    print(f'converted torchvision mobilenet_v3_{arch} -> {args.dst}')


if __name__ == '__main__':
    main()
