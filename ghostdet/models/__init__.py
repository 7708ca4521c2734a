from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .structure import (ChannelsMismatchError, HeadChannelsMismatchError,  # noqa: F401
                        HeadStridesMismatchError, NeckChannelsMismatchError,
                        backbone_out_channels, check_channels, check_config_channels,
                        eval_no_grad, feature_channels, feature_strides)
