from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .structure import (NeckChannelsMismatchError, backbone_out_channels,  # noqa: F401
                        check_config_neck_channels, check_neck_channels,
                        eval_no_grad)
