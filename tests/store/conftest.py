"""The `store` the store tests run against twice: an SQLite file, then a fresh PostgreSQL database (a module that
defines its own `store` fixture keeps it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cwsync.store import Store
from tests.store.test_store import opened_store


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store on a fresh database of each backend."""
    async with opened_store(request.param, tmp_path) as opened:
        yield opened
