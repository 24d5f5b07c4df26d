"""The store's schema version: the newest migration, the history, and opening a store without writing to it.

`cwsync migrate` and `/readyz` use these; `read_only` is how `cwsync plan`, `status` and `history` open the store
(they never create the database nor migrate it).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

from cwsync.store.store import Store, alembic_config, async_url

__all__ = ["Migration", "SchemaNotCurrentError", "head", "history", "read_only", "sqlite_file"]


class SchemaNotCurrentError(Exception):
    """The database is not at the newest migration (the message says which revision it is at and the fix)."""

    def __init__(self, current: str | None, newest: str) -> None:
        self.current, self.newest = current, newest
        at = f"at revision {current}" if current else "not migrated"
        super().__init__(f"the store is {at}, the newest is {newest}: run `cwsync migrate upgrade`")


@dataclass(frozen=True)
class Migration:
    """One migration of the store's history."""

    revision: str
    down_revision: str | None
    description: str


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest migration's revision."""
    newest = _scripts().get_current_head()
    if newest is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("the store has no migrations")
    return newest


def history() -> list[Migration]:
    """Every migration, oldest first."""
    revisions = list(_scripts().walk_revisions())
    revisions.reverse()
    return [
        Migration(
            revision=r.revision,
            down_revision=r.down_revision if isinstance(r.down_revision, str) else None,
            description=r.doc or "",
        )
        for r in revisions
    ]


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (None for another database)."""
    parsed = async_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


@asynccontextmanager
async def read_only(url: str) -> AsyncIterator[Store]:
    """The store at `url` as it is, for commands that write nothing.

    An SQLite file that does not exist yet reads as an empty store (a migrated scratch copy, removed afterwards):
    nothing is created where the configuration points. An existing database is not migrated.

    Raises:
        SchemaNotCurrentError: the database exists but is not at the newest migration.
    """
    file = sqlite_file(url)
    if file is not None and not file.exists():
        with tempfile.TemporaryDirectory(prefix="cwsync-plan-") as scratch:
            store = await Store.open(f"sqlite:///{Path(scratch) / 'empty.db'}")
            try:
                yield store
            finally:
                await store.close()
        return
    store = await Store.open(url, migrate=False)
    try:
        current = await store.revision()
        if current != head():
            raise SchemaNotCurrentError(current, head())
        yield store
    finally:
        await store.close()
