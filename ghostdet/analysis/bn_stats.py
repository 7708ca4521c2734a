"""Batch-norm running statistics: re-estimate them from data, weights unchanged.

A detector evaluates with its BN layers' running statistics. Trained from scratch with a small
BN momentum (torchvision's MobileNetV3 uses 0.01) and few iterations, those statistics lag
behind the weights, and the evaluated model is not the one being trained.
:func:`val_with_recomputed_bn` measures that gap: validation as trained, then again with the
backbone's statistics recomputed as exact averages over the training batches.
"""
from typing import Any, Callable, Dict, Iterable, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def recompute_bn_stats(bn_root: nn.Module, forward: Callable[[Any], Any],
                       batches: Iterable[Any]) -> Tuple[int, int]:
    """Reset the running statistics of every BN layer under ``bn_root`` and re-estimate them
    as the plain average over ``batches`` (each passed to ``forward`` in train mode, without
    gradients). Weights, momentum and train/eval modes are left as they were.

    Args:
        bn_root (nn.Module): Module whose BN layers are re-estimated (e.g. a backbone).
        forward (Callable): Runs one batch through ``bn_root`` (or a model containing it).
        batches (Iterable): The batches.

    Returns:
        tuple[int, int]: BN layers re-estimated, batches seen.
    """
    bns = [m for m in bn_root.modules() if isinstance(m, _BatchNorm)]
    if not bns:
        raise ValueError(f'{type(bn_root).__name__} has no BatchNorm layer to re-estimate')
    saved = [(bn, bn.momentum, bn.training) for bn in bns]
    seen = 0
    try:
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: every batch counts the same
            bn.train()
        with torch.no_grad():
            for batch in batches:
                forward(batch)
                seen += 1
    finally:
        for bn, momentum, training in saved:
            bn.momentum = momentum
            bn.train(training)
    if seen == 0:
        raise ValueError('no batches to re-estimate the BN statistics from')
    return len(bns), seen


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

    def forward(data: Any) -> None:
        model.backbone(model.data_preprocessor(data, True)['inputs'])  # BN layers in train mode

    layers, batches = recompute_bn_stats(model.backbone, forward, runner.train_dataloader)
    recomputed = runner.val_loop.run()
    return dict(as_trained=as_trained, recomputed=recomputed, bn_layers=layers,
                batches=batches)
