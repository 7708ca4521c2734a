import pytest
import torch

from ghostdet.analysis import (BACKBONES, PAPER_CLASSIFIERS, PAPER_DETECTION_BACKBONES,
                               build_backbone, build_classifier)
from ghostdet.analysis.backbones import last_out_index


def test_tables_name_known_backbones():
    assert set(PAPER_CLASSIFIERS) <= set(BACKBONES)
    assert set(PAPER_DETECTION_BACKBONES) <= set(BACKBONES)


@pytest.mark.parametrize('name', list(BACKBONES))
def test_classifier_logits_and_backbone_last_map(name):
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert build_classifier(name, num_classes=7)(x).shape == (1, 7)
        outs = build_backbone(name)(x)
    assert len(outs) == 1 and outs[0].shape[2:] == (2, 2)


def test_mobilenetv3_head_is_torchvision_s():
    head = build_classifier('MobileNetV3-Small').head
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(576, 1024), (1024, 1000)]


def test_last_out_index_and_unknown_name():
    assert [last_out_index(dict(type=t)) for t in ('GhostNet', 'MobileNetV3', 'MobileNetV2')
            ] == [4, 3, 7]
    with pytest.raises(KeyError, match='unknown backbone'):
        build_backbone('ResNet-50')


