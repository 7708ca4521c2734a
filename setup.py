"""ghostdet: GhostNet backbones and Ghost-module necks for MMDetection 3.x.

Install the environment with ``make env`` (``tools/install_env.sh``): mmcv 2.1.0 must be built
from its sdist against the installed torch, which ``pip install -e .`` alone cannot order.
torch is deliberately not in ``install_requires``: resolving a bare ``torch`` on a machine without
it would pull the newest CUDA build; the pinned CPU build is in ``requirements/torch.txt``.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_version() -> str:
    scope: dict = {}
    exec((HERE / 'ghostdet' / 'version.py').read_text(), scope)
    return scope['__version__']


def read_requirements(path: Path) -> list:
    lines = (line.split('#')[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


setup(
    name='ghostdet',
    version=read_version(),
    description='GhostNet backbones and Ghost-module necks for MMDetection 3.x',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(include=['ghostdet', 'ghostdet.*']),
    install_requires=read_requirements(HERE / 'requirements.txt'),
    extras_require={
        'tests': read_requirements(HERE / 'requirements' / 'tests.txt'),
        'deploy': read_requirements(HERE / 'requirements' / 'deploy.txt'),
    },
)
