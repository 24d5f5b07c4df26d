"""Fixtures of the scale-out tests: a fresh PostgreSQL database (required when CI=true)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.store.test_store import _create_database, _drop_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new empty PostgreSQL database for one test, dropped afterwards (skipped without PostgreSQL, unless CI)."""
    url = asyncio.run(_create_database())
    yield url
    asyncio.run(_drop_database(url))
