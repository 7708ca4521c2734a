from .hooks import (CheckpointKeysHook, FileNameVisualizationHook, FiniteLossHook,
                    FuseConvBNHook, InferenceOptionsHook, ProgressBarHook, RandomStateHook,
                    ReparameterizeHook,
                    ResumeScheduleHook, TrainPositionHook, get_random_states, set_random_states)
from .loops import ResumableEpochBasedTrainLoop

__all__ = [
    'CheckpointKeysHook', 'FileNameVisualizationHook', 'FiniteLossHook', 'FuseConvBNHook',
    'InferenceOptionsHook', 'ProgressBarHook', 'RandomStateHook', 'ReparameterizeHook',
    'ResumableEpochBasedTrainLoop',
    'ResumeScheduleHook', 'TrainPositionHook', 'get_random_states', 'set_random_states'
]
