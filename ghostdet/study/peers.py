"""Speed of ghostdet detectors next to a torchvision peer, measured in the same run.

torchvision is not a ghostdet requirement (its PyPI wheels need a CUDA build of torch); where
it is importable, e.g. on a GPU machine, its ``fasterrcnn_mobilenet_v3_large_fpn`` is built with
random weights (``weights=None, weights_backbone=None``: nothing is downloaded) and timed on
the same images as ours. Both sides start from a list of ``(3, H, W)`` images already on the
device and include their own preprocessing: torchvision's ``GeneralizedRCNNTransform``
(normalise, resize to ``min_size=800, max_size=1333``, pad) and mmdet's data preprocessor
(normalise, pad) via ``test_step``; then network, box decoding and NMS.
"""
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from ..analysis.latency import LatencyResult, benchmark_module, num_threads
from ..apis.builder import build_detector
from ..models.synthetic_inputs import synthetic_train_batch

PEER = 'fasterrcnn_mobilenet_v3_large_fpn'
PEER_CONFIGS = (
    'configs/ghostnet/faster-rcnn_ghostnet-1.0x_fpn_1x_coco.py',
    'configs/ghostnet/faster-rcnn_ghostnet-1.0x_ghost-fpn_1x_coco.py',
    'configs/ghostnet/faster-rcnn_ghostnet-1.1x_fpn_1x_coco.py',
    'configs/mobilenetv3/faster-rcnn_mobilenetv3-large_fpn_1x_coco.py',
)


class PeerUnavailable(RuntimeError):
    """The peer model cannot be built here (torchvision missing, or too old)."""


def build_torchvision_peer(name: str = PEER, device: str = 'cpu') -> nn.Module:
    """torchvision's detection model ``name`` with random weights, in eval mode on ``device``.

    Raises:
        PeerUnavailable: torchvision is not importable, or has no model ``name``.
    """
    try:
        from torchvision.models import detection
    except ImportError as err:
        raise PeerUnavailable(f'torchvision is not importable here ({err}); it is not a '
                              'ghostdet requirement: the peer row needs a machine that has '
                              'it') from err
    builder = getattr(detection, name, None)
    if builder is None:
        raise PeerUnavailable(f'torchvision.models.detection has no {name!r}')
    return builder(weights=None, weights_backbone=None).to(device).eval()


class MMDetTestStep(nn.Module):
    """``detector.test_step(data)`` as a module call: data preprocessor, network, decoding
    and NMS, from a list of uint8 ``(3, H, W)`` images as a dataloader gives them."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, data: dict) -> list:
        return self.detector.test_step(data)


def peer_images(shape: Sequence[int], batch_size: int, device: str = 'cpu',
                seed: int = 0) -> List[Tensor]:
    """``batch_size`` random float images ``(3, H, W)`` in [0, 1], as torchvision takes them."""
    gen = torch.Generator().manual_seed(seed)
    height, width = (int(s) for s in shape)
    return [torch.rand(3, height, width, generator=gen).to(device) for _ in range(batch_size)]


def mmdet_test_data(model: nn.Module, shape: Sequence[int], batch_size: int,
                    device: str = 'cpu') -> dict:
    """A ``test_step`` batch: uint8 images already on ``device`` (like the peer's)."""
    data = synthetic_train_batch(model, shape, batch_size)
    data['inputs'] = [img.to(device) for img in data['inputs']]
    return data


def peer_latency(configs: Sequence[str] = PEER_CONFIGS,
                 shape: Sequence[int] = (800, 1216),
                 batch_sizes: Sequence[int] = (1, 8),
                 device: str = 'cpu',
                 amp_modes: Sequence[bool] = (False, ),
                 runs: int = 50,
                 warmup: int = 10,
                 threads: Optional[int] = None,
                 peer: str = PEER,
                 progress: Optional[Callable[[str], None]] = None
                 ) -> Tuple[List[LatencyResult], Optional[str]]:
    """Time the torchvision peer and ghostdet detectors (random weights) on the same images.

    Returns:
        tuple[list[LatencyResult], str or None]: Results grouped by batch size, then precision,
        the peer first in each group; and why the peer is missing (None when it was timed).
    """
    with num_threads(threads):
        models = {}
        try:
            models[f'torchvision {peer}'] = build_torchvision_peer(peer, device)
            missing = None
        except PeerUnavailable as err:
            missing = str(err)
        for config in configs:
            models[Path(config).stem] = build_detector(config, device=device)
        results = []
        for batch_size in batch_sizes:
            for amp in amp_modes:
                for name, model in models.items():
                    timing = dict(runs=runs, warmup=warmup, device=device, amp=amp, name=name,
                                  progress=progress, batch_size=batch_size)
                    if name.startswith('torchvision '):
                        images = peer_images(shape, batch_size, device)
                        results.append(benchmark_module(model, (images, ), **timing))
                    else:
                        data = mmdet_test_data(model, shape, batch_size, device)
                        results.append(benchmark_module(MMDetTestStep(model), (data, ),
                                                        **timing))
    return results, missing
