"""What GhostNet and MobileNetV3 share: argument checks, stage freezing and ``norm_eval``."""
from typing import List, Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm


class TappedBackbone(BaseModule):
    """A backbone with ``num_taps`` detection taps (the ends of its stride stages).

    Subclasses set ``num_taps``, call :meth:`_init_common` in ``__init__`` and say which
    modules ``frozen_stages`` freezes in :meth:`_frozen_modules`.
    """

    num_taps: int

    def _init_common(self, widen_factor: float, out_indices: Sequence[int],
                     frozen_stages: int, norm_eval: bool) -> None:
        if isinstance(widen_factor, bool) or not isinstance(widen_factor, (int, float)) \
                or widen_factor <= 0:
            raise ValueError(f'widen_factor must be a positive number, but got {widen_factor!r}')
        out_indices = tuple(out_indices)
        if not out_indices or any(
                not isinstance(i, int) or not 0 <= i < self.num_taps for i in out_indices):
            raise ValueError('out_indices must be a non-empty sequence of integers in '
                             f'range(0, {self.num_taps}), but got {out_indices!r}')
        if not (isinstance(frozen_stages, int) and -1 <= frozen_stages <= self.num_taps):
            raise ValueError(f'frozen_stages must be an integer in range(-1, '
                             f'{self.num_taps + 1}), but got {frozen_stages!r}')
        self.widen_factor = widen_factor
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

    def _frozen_modules(self) -> List[nn.Module]:
        """The stem (``frozen_stages=0``) and the first ``frozen_stages`` stride stages."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'TappedBackbone':
        """Set the mode, then re-apply ``frozen_stages`` and ``norm_eval``."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
