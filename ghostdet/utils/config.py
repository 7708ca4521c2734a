"""Config files named by path or ``package::path``, found and checked the same way by every
entry point (train, test, demo, the analysis tools, the study)."""
from pathlib import Path
from typing import Union


def resolve_config_path(config: Union[str, Path]) -> Path:
    """The file of ``config``; ``package::relative/path.py`` (as configs' ``_base_`` use it) is
    looked up in the installed package's ``.mim/configs``, e.g. ``mmdet::retinanet/...``.

    Args:
        config (str or Path): A file path or ``package::path``.

    Returns:
        Path: The config file (not checked for existence).
    """
    config = str(config)
    if '::' not in config:
        return Path(config)
    from mmengine.utils import get_installed_path

    package, relative = config.split('::', 1)
    return Path(get_installed_path(package)) / '.mim' / 'configs' / relative


def config_file(config: Union[str, Path]) -> Path:
    """The existing file that ``config`` names (see :func:`resolve_config_path`).

    Raises:
        FileNotFoundError: ``config file not found: <config>``, followed by the looked-up
            file in brackets where that differs from what was given.
    """
    path = resolve_config_path(config)
    if not path.is_file():
        raise FileNotFoundError(f'config file not found: {config}'
                                + (f' ({path})' if str(path) != str(config) else ''))
    return path
