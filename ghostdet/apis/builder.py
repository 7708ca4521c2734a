"""Detectors from mmdet configs: the one config loader every tool and library function uses,
building a detector without a dataset, and swapping its backbone or neck."""
import copy
from pathlib import Path
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config, ConfigDict

from ..models.structure import backbone_out_channels, check_config_channels
from ..models.utils import load_checked_state_dict, reparameterize
from ..utils.config import config_file, merge_cfg_options
from ..utils.registry import build_model

ConfigLike = Union[str, Path, Config]


def load_config(config: ConfigLike,
                cfg_options: Optional[dict] = None,
                training: bool = False) -> Config:
    """Load an mmdet config (its ``custom_imports``, e.g. ``ghostdet``, are imported) with
    ``--cfg-options`` overrides merged into it.

    An option that would change nothing (a config file's variable, a misspelt setting) is
    refused (:func:`ghostdet.utils.config.merge_cfg_options`).

    Args:
        config (str, Path or Config): A config file, ``mmdet::...`` path (see
            :func:`ghostdet.utils.config.resolve_config_path`) or loaded config (copied, not
            modified).
        cfg_options (dict, optional): ``key.sub=value`` overrides, as ``--cfg-options`` gives
            them. Defaults to None.
        training (bool): The config is loaded to train: say on stderr where the options
            change the training length but not the learning-rate schedule. Defaults to False.

    Returns:
        Config: The config.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        cfg = Config.fromfile(str(config_file(config)))
    merge_cfg_options(cfg, cfg_options, training)
    return cfg


def build_detector(config: ConfigLike,
                   cfg_options: Optional[dict] = None,
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu',
                   fold: bool = True) -> nn.Module:
    """Build the detector of an mmdet config in eval mode; no dataset is needed.

    Weights stay as the constructors leave them unless ``checkpoint`` is given (``init_cfg``
    is not applied, so nothing is loaded or downloaded): fine for counting and timing.
    Re-parameterisable modules (GhostNetV3) are folded, after the checkpoint is loaded, into
    the single-branch form that is deployed.

    Args:
        config (str, Path or Config): The config.
        cfg_options (dict, optional): Overrides merged into the config. Defaults to None.
        checkpoint (str, optional): A local checkpoint to load; one whose weights do not
            fit the detector exactly is refused (``CheckpointMismatchError``). Defaults to
            None.
        device (str): Defaults to ``'cpu'``.
        fold (bool): Fold re-parameterisable modules (GhostNetV3) after loading; False keeps
            the training form (for a caller that loads its weights later). Defaults to True.

    Returns:
        nn.Module: The detector.
    """
    cfg = load_config(config, cfg_options)
    # a swapped backbone the neck does not fit, or a neck its heads do not: named here
    check_config_channels(cfg, 'the config' if isinstance(config, Config) else str(config))
    model = build_model(cfg.model)
    if checkpoint is not None:  # all of its weights, or an error listing what does not fit
        load_checked_state_dict(model, checkpoint)
    if fold:
        reparameterize(model)  # GhostNetV3: timed and counted as deployed (logged)
    model.to(device)
    model.eval()
    return model


def replace_backbone(config: ConfigLike,
                     backbone: Optional[dict] = None,
                     neck_type: Optional[str] = None) -> Config:
    """A copy of ``config`` with its backbone and/or neck type changed.

    The neck's ``in_channels`` are set to what the new backbone returns, so any backbone drops
    into any FPN-style config; the maps' strides are the caller's to keep: mmdet's configs start
    their FPN at the second of ResNet's four maps, so a backbone there needs four maps too
    (:func:`~ghostdet.models.check_config_channels` names the heads' strides otherwise).

    Args:
        config (str, Path or Config): The detector config.
        backbone (dict, optional): Keys overriding the config's backbone (e.g.
            ``dict(widen_factor=1.3)``); with a different ``type`` the backbone is replaced by
            ``backbone`` alone. None keeps it. Defaults to None.
        neck_type (str, optional): New neck type, e.g. ``'GhostFPN'`` (same arguments as
            ``FPN``). None keeps it. Defaults to None.

    Returns:
        Config: The new config.
    """
    cfg = load_config(config)
    if backbone is not None:
        old = cfg.model.backbone.to_dict()
        if 'type' in backbone and backbone['type'] != old['type']:
            old = {}
        old.update(copy.deepcopy(backbone))
        cfg.model.backbone = ConfigDict(old)
        built = build_model(cfg.model.backbone)
        cfg.model.neck.in_channels = list(backbone_out_channels(built))
    if neck_type is not None:
        cfg.model.neck.type = neck_type
    return cfg
