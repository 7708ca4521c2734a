from .inference import (check_demo_inputs, collect_images, init_demo_model, picture_names,
                        run_demo)
from .runner import build_test_config, build_train_config, load_config, test, train

__all__ = ['build_train_config', 'build_test_config', 'load_config', 'train', 'test',
           'check_demo_inputs', 'collect_images', 'init_demo_model', 'picture_names',
           'run_demo']
