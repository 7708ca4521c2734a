from mmengine.registry import DefaultScope

from ghostdet.models import GhostNet
from ghostdet.utils.registry import build_model


def test_builds_in_mmdet_scope_and_leaves_the_current_one():
    # what a Runner without default_scope leaves current: mmengine's registries, which hold
    # neither mmdet's nor ghostdet's modules
    with DefaultScope.overwrite_default_scope('mmengine'):
        assert isinstance(build_model(dict(type='GhostNet', out_indices=(4, ))), GhostNet)
        neck = build_model(dict(type='FPN', in_channels=[8, 16], out_channels=8, num_outs=2))
        assert type(neck).__name__ == 'FPN'
        assert DefaultScope.get_current_instance().scope_name == 'mmengine'
