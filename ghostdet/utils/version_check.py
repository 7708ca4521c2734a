"""Fail early, and clearly, when the installed OpenMMLab packages are outside what ghostdet
supports (mmdet's own check raises a bare AssertionError deep inside its import)."""
import importlib.metadata
from typing import Callable, Dict, List, Optional, Tuple

from packaging.version import Version

# package -> (minimum, inclusive; maximum, exclusive)
SUPPORTED: Dict[str, Tuple[str, str]] = {
    'mmcv': ('2.0.0rc4', '2.2.0'),
    'mmengine': ('0.7.1', '1.0.0'),
    'mmdet': ('3.0.0', '3.4.0'),
}


def find_version_problems(
        get_version: Callable[[str], str] = importlib.metadata.version) -> List[str]:
    """One line per package that is missing or outside :data:`SUPPORTED`."""
    problems = []
    for name, (low, high) in SUPPORTED.items():
        needed = f'{name}>={low},<{high}'
        try:
            found: Optional[str] = get_version(name)
        except importlib.metadata.PackageNotFoundError:
            found = None
        if found is None:
            problems.append(f'{name} is not installed (needed: {needed})')
        elif not Version(low) <= Version(found) < Version(high):
            problems.append(f'{name} {found} is installed (needed: {needed})')
    return problems


def check_versions(get_version: Callable[[str], str] = importlib.metadata.version) -> None:
    """Raise ImportError naming the versions found and needed."""
    problems = find_version_problems(get_version)
    if problems:
        raise ImportError('ghostdet cannot run with the installed OpenMMLab packages:\n  '
                          + '\n  '.join(problems)
                          + '\nInstall the supported set with `make env` '
                          '(tools/install_env.sh): mmcv 2.1.0, mmengine 0.10.7, mmdet 3.3.0.')
