"""What ``import ghostdet`` does, each step a function run once, in this order. Configs reach
ghostdet through ``custom_imports=dict(imports=['ghostdet'])``, also under mmdet's own
``tools/train.py`` and ``tools/test.py``, so every step here is one those runs need too; the
rest is called where it is used."""
import warnings


def silence_pkg_resources_warning() -> None:
    """mmengine reads each ``mmdet::`` base through pkg_resources, which setuptools (pinned
    < 81 for it in requirements/build.txt) says four lines about on every tool run."""
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated as an API',
                            category=UserWarning)


def check_versions() -> None:
    """Fail at the import, naming the versions found and needed, not with mmdet's bare
    AssertionError deep inside its own import."""
    from .utils.version_check import check_versions as check
    check()


def allow_checkpoint_globals() -> None:
    """Checkpoints load with ``weights_only=True``, which needs the few classes mmengine
    pickles into them allowlisted (:func:`ghostdet.utils.checkpoint.register_safe_globals`)."""
    from .utils.checkpoint import register_safe_globals
    register_safe_globals()


def make_local_writes_atomic() -> None:
    """A run killed while it saves (mmdet's own train.py too) must leave no truncated
    checkpoint: mmengine's local file backend writes through a renamed temporary file."""
    from .utils.atomic_io import register_atomic_local_backend
    register_atomic_local_backend()


def register_modules() -> None:
    """Configs name ghostdet's backbones, necks, losses, datasets, transforms, hooks, loops
    and the onnxruntime detector by ``type``: importing their modules registers them into
    mmdet's registries."""
    from . import datasets, deployment, engine, models  # noqa: F401


def fix_mmdet_bugs() -> None:
    """mmdet 3.3.0's SSDHead cannot predict (:mod:`ghostdet.models.compat`), also under
    mmdet's own test.py, which imports ghostdet only through a config's custom_imports."""
    from .models.compat import fix_ssd_head_predict
    fix_ssd_head_predict()


def run() -> None:
    """Every step above, in order: the version guard before anything imports mmdet's
    modules, the fixes after the modules they patch are imported."""
    silence_pkg_resources_warning()
    check_versions()
    allow_checkpoint_globals()
    make_local_writes_atomic()
    register_modules()
    fix_mmdet_bugs()
