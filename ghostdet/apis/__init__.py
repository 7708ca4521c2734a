from .builder import ConfigLike, build_detector, load_config, replace_backbone
from .inference import (check_demo_inputs, collect_images, init_demo_model, picture_names,
                        run_demo)
from .runner import build_run_config, build_test_config, build_train_config, test, train

__all__ = ['ConfigLike', 'build_detector', 'load_config', 'replace_backbone',
           'build_run_config', 'build_train_config', 'build_test_config', 'train', 'test',
           'check_demo_inputs', 'collect_images', 'init_demo_model', 'picture_names',
           'run_demo']
