from .hooks import CheckpointKeysHook, FiniteLossHook, ProgressBarHook
from .loops import ResumableEpochBasedTrainLoop

__all__ = [
    'CheckpointKeysHook', 'FiniteLossHook', 'ProgressBarHook', 'ResumableEpochBasedTrainLoop'
]
