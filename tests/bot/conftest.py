from __future__ import annotations

import pytest
from harness import Harness

from fake_telegram import FakeTelegramServer


@pytest.fixture
def server():
    with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
async def harness(tmp_path, server):
    h = Harness.create(tmp_path, server)
    await h.start_bot()
    h.start_worker()
    yield h
    await h.close()
