from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.postgres import BACKENDS
from tests.support.world import World, world


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that touches the records runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture
async def w(tmp_path: Path, backend: str) -> AsyncIterator[World]:
    async with world(tmp_path, backend=backend) as built:
        yield built
