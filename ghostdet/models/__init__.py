from .backbones import *  # noqa: F401,F403
from .fuse import (DetectorNetwork, flatten_tensors, fuse_conv_bn,  # noqa: F401
                   randomize_batchnorm, relative_difference, unshare_convolutions)
from .heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .structure import (ChannelsMismatchError, HeadChannelsMismatchError,  # noqa: F401
                        HeadStridesMismatchError, NeckChannelsMismatchError,
                        backbone_out_channels, check_channels, check_config_channels,
                        eval_no_grad, feature_channels, feature_strides)
from .synthetic_inputs import (padded_shape, synthetic_batch, synthetic_rois,  # noqa: F401
                               synthetic_train_batch)
from .inference_options import (AccelerationCheckError, AccelerationReport,  # noqa: F401
                                InferenceOptions, NetworkGraphs, accelerate, accelerated_copy,
                                check_against)
