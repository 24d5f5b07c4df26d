"""Alembic environment of the cwsync store.

`Store.open` runs the migrations programmatically and hands its own connection in through
`config.attributes["connection"]` (see `cwsync.store.store.alembic_config`). Without one (the `alembic` command line
with `-x url=...` or `sqlalchemy.url`), an async engine is created here; offline mode renders SQL for the URL.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from cwsync.store.models import Base
from cwsync.store.store import async_url, create_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    """The database URL: `-x url=...` first, then the config's `sqlalchemy.url`."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return url


def _run(connection: Connection) -> None:
    """Run the pending migrations on `connection` (inside the caller's transaction when there is one)."""
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    """Connect to the configured URL and migrate in one transaction."""
    engine = create_engine(async_url(_url()))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def run_offline() -> None:
    """Render the migration SQL instead of running it."""
    context.configure(url=async_url(_url()), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate on the connection handed in by `Store.open`, or on a fresh engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_with_own_engine())


if context.is_offline_mode():
    run_offline()
else:
    run_online()
