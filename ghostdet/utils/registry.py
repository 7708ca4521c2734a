"""Building modules from mmdet's ``MODELS`` registry outside a Runner."""
import torch.nn as nn


def build_model(cfg: dict) -> nn.Module:
    """Build ``cfg`` (a backbone, neck or detector) from mmdet's ``MODELS`` in mmdet's scope.

    ``MODELS.build`` looks types up in the process's current default scope, which is whatever
    was set last: a Runner sets its config's ``default_scope``, and mmengine's own is
    ``mmengine``, where neither mmdet's nor ghostdet's modules are. This builds in mmdet's
    scope whatever the current one is, and leaves the current one as it was.

    Args:
        cfg (dict): The module's config, with its ``type``.

    Returns:
        nn.Module: The module.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope

    # ghostdet's modules are registered by importing ghostdet, which importing this module does
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)
