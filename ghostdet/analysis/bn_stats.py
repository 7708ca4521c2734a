"""Batch-norm running statistics: re-estimate them from data, weights unchanged.

A detector evaluates with its BN layers' running statistics. Trained from scratch with a small
BN momentum (torchvision's MobileNetV3 uses 0.01) and few iterations, those statistics lag
behind the weights, and the evaluated model is not the one being trained.
:func:`val_with_recomputed_bn` measures that gap: validation as trained, then again with the
backbone's statistics recomputed (``torch.optim.swa_utils.update_bn``) over the training data.
"""
from typing import Any, Dict, Iterable, Iterator, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import update_bn


def recompute_bn_stats(module: nn.Module, inputs: Iterable[torch.Tensor]) -> Tuple[int, int]:
    """``torch.optim.swa_utils.update_bn(inputs, module)``: the running statistics of every BN
    layer in ``module`` become plain averages over ``inputs`` (weights, momentum and mode are
    left as they were), with errors where there is nothing to do.

    Returns:
        tuple[int, int]: BN layers re-estimated, batches seen.
    """
    layers = sum(isinstance(m, _BatchNorm) for m in module.modules())
    if not layers:
        raise ValueError(f'{type(module).__name__} has no BatchNorm layer to re-estimate')
    seen = 0

    def counted() -> Iterator[torch.Tensor]:
        nonlocal seen
        for batch in inputs:
            seen += 1
            yield batch

    update_bn(counted(), module)
    if seen == 0:
        raise ValueError('no batches to re-estimate the BN statistics from')
    return layers, seen


def val_with_recomputed_bn(runner: Any) -> Dict[str, Any]:
    """Validate ``runner``'s model (after ``load_from``) as trained, then with its backbone's
    BN statistics recomputed over one pass of the train dataloader.

    Returns:
        dict: ``as_trained`` and ``recomputed`` (metrics), ``bn_layers``, ``batches``.
    """
    runner.load_or_resume()
    as_trained = runner.val_loop.run()
    model = runner.model
    model = getattr(model, 'module', model)
    inputs = (model.data_preprocessor(data, True)['inputs'] for data in runner.train_dataloader)
    layers, batches = recompute_bn_stats(model.backbone, inputs)
    recomputed = runner.val_loop.run()
    return dict(as_trained=as_trained, recomputed=recomputed, bn_layers=layers,
                batches=batches)
