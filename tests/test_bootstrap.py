"""What ``import ghostdet`` leaves done (ghostdet/bootstrap.py), step by step, in a fresh
interpreter where a test cannot have done it first."""
import json
import subprocess
import sys

import pytest

from tests.helpers import REPO

PROBE = r'''
import json, warnings
import torch
import ghostdet
from mmdet.models.dense_heads import SSDHead
from mmdet.registry import HOOKS, LOOPS, MODELS, TRANSFORMS
from mmengine.fileio import get_file_backend
from mmengine.logging.history_buffer import HistoryBuffer
print(json.dumps(dict(
    pkg_resources=any(f[0] == 'ignore' and f[1] is not None
                      and f[1].pattern.startswith('pkg_resources is deprecated')
                      for f in warnings.filters),
    safe_globals=HistoryBuffer in torch.serialization.get_safe_globals(),
    backend=type(get_file_backend('x.pth')).__name__,
    registered=[MODELS.get('GhostNet') is not None, MODELS.get('GhostFPN') is not None,
                MODELS.get('ONNXRuntimeDetector') is not None,
                HOOKS.get('FuseConvBNHook') is not None,
                LOOPS.get('ResumableEpochBasedTrainLoop') is not None,
                TRANSFORMS.get('LoadImageFromFileChecked') is not None],
    ssd_loss_cls=hasattr(SSDHead, 'loss_cls'))))
'''


def test_import_ghostdet_does_every_step():
    result = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    done = json.loads(result.stdout.strip().splitlines()[-1])
    assert done == dict(pkg_resources=True, safe_globals=True, backend='AtomicLocalBackend',
                        registered=[True] * 6, ssd_loss_cls=True)


def test_bootstrap_runs_again_without_harm():
    import ghostdet
    ghostdet.bootstrap.run()  # a second run: registrations are forced or skipped, fixes idempotent
    from mmdet.registry import MODELS
    assert MODELS.get('GhostNet') is not None and ghostdet.__version__


def test_the_version_guard_names_what_is_installed(monkeypatch):
    from ghostdet import bootstrap
    from ghostdet.utils import version_check
    monkeypatch.setitem(version_check.SUPPORTED, 'mmdet', ('9.0.0', '10.0.0'))
    with pytest.raises(ImportError, match=r'mmdet 3\.\S+ is installed \(needed: '
                       r'mmdet>=9\.0\.0,<10\.0\.0\)'):
        bootstrap.check_versions()
