"""The `store` the store tests run against twice: an SQLite file, then a fresh PostgreSQL database (a module that
defines its own `store` fixture keeps it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cwsync.store import Store
from tests.store.test_store import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        opened = await Store.open(f"sqlite:///{tmp_path / 'store.db'}")
        yield opened
        await opened.close()
        return
    async with fresh_postgres_database() as url:
        opened = await Store.open(url)
        yield opened
        await opened.close()
