"""Weight converters from other libraries' parameter names to ghostdet's."""
import re
from collections import OrderedDict
from typing import Dict, List

from torch import Tensor

_CONV_BN = {'0': 'conv', '1': 'bn'}


def convert_torchvision_mobilenetv3(state_dict: Dict[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Map a torchvision ``mobilenet_v3_{large,small}`` state_dict to :class:`MobileNetV3`'s.

    torchvision numbers each block's parts (``features.N.block.J``): an optional 1x1 expansion
    (only where the expansion differs from the input), the depthwise conv, an optional SE
    (``fc1``/``fc2``) and the linear projection. ghostdet's blocks are mmdet
    ``InvertedResidual``\\ s: ``expand_conv``, ``depthwise_conv``, ``se.conv1``/``se.conv2``,
    ``linear_conv``. The classifier is dropped (a detection backbone has none).

    Raises:
        KeyError: a key that is neither a ``features.*`` nor a ``classifier.*`` key.
    """
    parts: Dict[str, List[str]] = {}  # 'features.N' -> its block part indices, in order
    for key in state_dict:
        m = re.match(r'(features\.\d+)\.block\.(\d+)\.', key)
        if m and m.group(2) not in parts.setdefault(m.group(1), []):
            parts[m.group(1)].append(m.group(2))

    def part_names(feature: str) -> Dict[str, str]:
        indices = sorted(parts[feature], key=int)
        has_se = {j: any(k.startswith(f'{feature}.block.{j}.fc1') for k in state_dict)
                  for j in indices}
        convs = [j for j in indices if not has_se[j]]
        conv_names = (['expand_conv'] if len(convs) == 3 else []) + [
            'depthwise_conv', 'linear_conv'
        ]
        names = dict(zip(convs, conv_names))
        names.update({j: 'se' for j in indices if has_se[j]})
        return names

    names_of = {feature: part_names(feature) for feature in parts}
    out: 'OrderedDict[str, Tensor]' = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('classifier.'):
            continue
        m = re.match(r'(features\.\d+)\.block\.(\d+)\.(.+)$', key)
        if m:
            feature, j, rest = m.groups()
            name = names_of[feature][j]
            if name == 'se':
                rest = re.sub(r'^fc([12])\.', r'conv\1.conv.', rest)
            else:
                rest = _CONV_BN[rest.split('.')[0]] + rest[1:]
            out[f'{feature}.{name}.{rest}'] = value
            continue
        m = re.match(r'(features\.\d+)\.([01])\.(.+)$', key)  # stem and last conv
        if m:
            out[f'{m.group(1)}.{_CONV_BN[m.group(2)]}.{m.group(3)}'] = value
            continue
        raise KeyError(f'unexpected key for a torchvision MobileNetV3: {key}')
    return out
