"""Loading pretrained weights with a key-coverage check (mmengine's ``PretrainedInit`` loads with
``strict=False`` and goes on silently when nothing matches), and folding re-parameterisable
modules for inference."""
import os.path as osp
from typing import Any, Dict, Iterable, Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_with_prefix

from ..utils.config import walk_config
from ..utils.text import preview
from .layers.reparam import Reparameterizable


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's parameter names or shapes do not cover the model's."""


def reparameterize(model: nn.Module) -> int:
    """Fold every re-parameterisable module of ``model`` (e.g. GhostNetV3's blocks) into its
    single-branch inference form, in place, and log how many were folded.

    Call it after the trained weights are loaded and before inference or export: the folded
    model computes what the training form computes in eval mode, with the norms' running
    statistics folded into the convolutions. Folding twice is a no-op (returns 0); a model
    without such modules is left alone.

    Args:
        model (nn.Module): A detector, a backbone or a single module.

    Returns:
        int: The number of modules folded.
    """
    pending = [m for m in model.modules() if isinstance(m, Reparameterizable) and not m.deploy]
    for module in pending:
        module.reparameterize()
    if pending:
        kinds = sorted({type(m).__name__ for m in pending})
        MMLogger.get_current_instance().info(
            f'folded {len(pending)} re-parameterisable modules ({", ".join(kinds)}) into single '
            'convolutions for inference')
    return len(pending)


def check_state_dict_keys(model: nn.Module,
                          state_dict: Dict[str, object],
                          ignored_prefixes: Iterable[str] = (),
                          source: str = 'checkpoint') -> None:
    """Raise :class:`CheckpointMismatchError` naming every key that is missing from
    ``state_dict``, unexpected in it, or of another shape; keys (of either side) that start
    with one of ``ignored_prefixes`` are left out of the check."""
    ignored_prefixes = tuple(ignored_prefixes)
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(ignored_prefixes)}
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith(ignored_prefixes)}
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [
        f'{k} {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}'
        for k, v in own.items()
        if k in state_dict and hasattr(state_dict[k], 'shape')
        and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong_shape:
        lines = [f'{source} does not match {type(model).__name__} '
                 f'({len(own)} model keys, {len(state_dict)} checkpoint keys):']
        if missing:
            lines.append(f'  missing from the checkpoint ({len(missing)}): {preview(missing)}')
        if unexpected:
            lines.append(f'  unexpected in the checkpoint ({len(unexpected)}): '
                         f'{preview(unexpected)}')
        if wrong_shape:
            lines.append(f'  shape mismatch ({len(wrong_shape)}): {preview(wrong_shape)}')
        raise CheckpointMismatchError('\n'.join(lines))


def inner_model(model: nn.Module) -> nn.Module:
    """The detector inside ``model``'s wrappers: DDP's, and the test-time augmentation model
    (``DetTTAModel``) of ``tools/test.py --tta``; where mmengine loads a checkpoint's weights."""
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def strip_ddp_prefix(state_dict: Dict[str, object]) -> Dict[str, object]:
    """``state_dict`` without DDP's ``module.`` key prefix, as mmengine applies it."""
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state_dict.items()}


def read_state_dict(checkpoint: str, prefix: Optional[str] = None,
                    map_location: str = 'cpu') -> Dict[str, object]:
    """The weights of ``checkpoint`` (DDP's ``module.`` prefix stripped), or of its sub-module
    ``prefix`` as ``PretrainedInit`` selects them."""
    if prefix is not None:
        return _load_checkpoint_with_prefix(prefix, checkpoint, map_location)
    ckpt = _load_checkpoint(checkpoint, map_location=map_location)
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state_dict, dict):
        raise CheckpointMismatchError(
            f'{checkpoint} holds a {type(state_dict).__name__}, not a state dict')
    return strip_ddp_prefix(state_dict)


def check_checkpoint_fits(model: nn.Module, checkpoint: str) -> None:
    """Raise :class:`CheckpointMismatchError` when the weights of ``checkpoint`` do not cover
    ``model`` exactly (for models something else loads, e.g. mmdet's ``init_detector``, which
    loads whatever matches and warns)."""
    check_state_dict_keys(model, read_state_dict(checkpoint), source=f'checkpoint {checkpoint}')


def check_weight_files(cfg: Any, config: str) -> None:
    """Name a ``Pretrained`` ``init_cfg`` checkpoint or a ``load_from`` of the config that is
    not on disk, before anything is built: training otherwise fails only once the model,
    the datasets and the hooks are set up. URIs (``torchvision://``, ``https://``, ...) are
    left to mmengine.

    Raises:
        FileNotFoundError: ``<config>: <setting> not found: <path>``.
    """
    files = [(f'{setting}.checkpoint', node['checkpoint'])  # every Pretrained init_cfg
             for setting, node in walk_config(cfg.get('model'), 'model')
             if isinstance(node, dict) and node.get('type') == 'Pretrained'
             and isinstance(node.get('checkpoint'), str)]
    if isinstance(cfg.get('load_from'), str):
        files.append(('load_from', cfg.load_from))
    for setting, path in files:
        if '://' not in path and not osp.isfile(path):
            raise FileNotFoundError(
                f'{config}: {setting} not found: {path} (a local path: nothing is downloaded '
                "for it; docs/models.md, 'Official ImageNet weights', says how to make a local "
                'copy of pretrained weights; without the setting, the model trains from scratch)')


def load_checked_state_dict(model: nn.Module,
                            checkpoint: str,
                            prefix: Optional[str] = None,
                            ignored_prefixes: Iterable[str] = (),
                            map_location: str = 'cpu') -> None:
    """Load ``checkpoint`` (a path; ``prefix`` selects a sub-module's weights, as in
    ``PretrainedInit``) into ``model`` after :func:`check_state_dict_keys`."""
    state_dict = read_state_dict(checkpoint, prefix, map_location)
    ignored_prefixes = tuple(ignored_prefixes)
    check_state_dict_keys(model, state_dict, ignored_prefixes, source=checkpoint)
    kept = {k: v for k, v in state_dict.items() if not k.startswith(ignored_prefixes)}
    model.load_state_dict(kept, strict=True)
    MMLogger.get_current_instance().info(
        f'loaded {len(kept)} tensors into {type(model).__name__} from {checkpoint}'
        + (f' (left out {len(state_dict) - len(kept)} keys under {ignored_prefixes})'
           if len(kept) < len(state_dict) else ''))


def load_pretrained_init(module: nn.Module, ignored_prefixes: Iterable[str] = ()) -> bool:
    """If ``module.init_cfg`` is ``Pretrained``, load it with :func:`load_checked_state_dict`
    and mark the module initialized; return whether it did."""
    cfg = module.init_cfg
    if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
        return False
    load_checked_state_dict(
        module,
        cfg['checkpoint'],
        prefix=cfg.get('prefix'),
        ignored_prefixes=ignored_prefixes,
        map_location=cfg.get('map_location', 'cpu'))
    module._is_init = True
    return True
