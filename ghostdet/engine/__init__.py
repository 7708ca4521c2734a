from .hooks import CheckpointKeysHook, FiniteLossHook, FuseConvBNHook, ProgressBarHook
from .loops import ResumableEpochBasedTrainLoop

__all__ = [
    'CheckpointKeysHook', 'FiniteLossHook', 'FuseConvBNHook', 'ProgressBarHook',
    'ResumableEpochBasedTrainLoop'
]
