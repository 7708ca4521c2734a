from .inference import collect_images, run_demo
from .runner import build_test_config, build_train_config, load_config, test, train

__all__ = ['build_train_config', 'build_test_config', 'load_config', 'train', 'test',
           'collect_images', 'run_demo']
