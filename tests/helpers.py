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
