from __future__ import annotations

import pytest

from tests.unit.exams.builders import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
