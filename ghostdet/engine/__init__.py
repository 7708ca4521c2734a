from .hooks import (CheckpointKeysHook, FiniteLossHook, FuseConvBNHook, ProgressBarHook,
                    RandomStateHook, get_random_states, set_random_states)
from .loops import ResumableEpochBasedTrainLoop

__all__ = [
    'CheckpointKeysHook', 'FiniteLossHook', 'FuseConvBNHook', 'ProgressBarHook',
    'RandomStateHook', 'ResumableEpochBasedTrainLoop', 'get_random_states', 'set_random_states'
]
