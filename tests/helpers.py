from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# shared/ lies beside the checkout on developer machines and in CI; users won't have it
SHARED = (REPO.parent / 'shared').resolve()
FIXTURES = SHARED / 'fixtures'
BCCD = SHARED / 'data' / 'bccd' / 'BCCD'


def require_shared(path: Path) -> Path:
    """Skip (with the reason) when a file from ../shared is absent."""
    if not path.exists():
        pytest.skip(f'{path} is absent: it comes with the shared/ folder beside the checkout')
    return path


def free_port() -> str:
    """A TCP port nothing listens on now, for a torchrun rendezvous (the tests fixed theirs,
    two the same one, and one of those failed once in a run of the file; it passed alone)."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def free_batch_and_image_size(min_side=64):
    """``dynamic_shapes`` of one NCHW image batch for ``torch.export``: the batch (1-32) and the
    sides (multiples of 32, ``min_side``-2048) left free."""
    from torch.export import Dim
    low = min_side // 32
    return {0: Dim('batch', min=1, max=32), 2: 32 * Dim('h', min=low, max=64),
            3: 32 * Dim('w', min=low, max=64)}


def assert_exports_like_eager(model, example, dynamic_shapes, others):
    """``torch.export`` of ``model`` (eval) at ``example`` with ``dynamic_shapes`` gives the
    eager outputs (to 1e-5) on each of the ``others`` inputs (other batch sizes and image
    sizes): what a deployment export of the module relies on."""
    import torch

    model = model.eval()
    exported = torch.export.export(model, example, dynamic_shapes=dynamic_shapes).module()
    for args in others:
        with torch.no_grad():
            expected, got = model(*args), exported(*args)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            torch.testing.assert_close(g, e, rtol=0, atol=1e-5)


def calibrate_batch_norms(model, batches=4, shape=(2, 3, 64, 64), seed=0):
    """Random BatchNorm affine parameters and running statistics calibrated on ``batches``
    random inputs of ``shape`` (cumulative averages), as the backbone fixtures were made: a
    fold of the norms is then tested on statistics that are not the identity. Returns the
    model in eval mode."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    with torch.no_grad():
        for m in norms:
            m.weight.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * 0.2)
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batches
        model.train()
        for _ in range(batches):
            model(torch.randn(shape, generator=generator))
    for m in norms:
        m.momentum = 0.1
    return model.eval()
