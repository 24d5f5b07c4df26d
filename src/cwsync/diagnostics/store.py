"""`cwsync doctor`'s store check: the configured store can be reached, or the reason and the fix.

Nothing is created: a SQLite store is checked by its folder (the file is made by the first sync), a PostgreSQL
store by connecting and running `SELECT 1`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cwsync.diagnostics.connectwise import CheckResult
from cwsync.store import Store, StoreUnavailableError, async_url

__all__ = ["check_store"]

NAME = "Store reachable"


async def check_store(url: str) -> CheckResult:
    """Whether the store at `url` can be opened."""
    try:
        engine_url = async_url(url)
    except ValueError as exc:
        return CheckResult(NAME, "fail", detail=str(exc), fix="use sqlite:///path/to/cwsync.db or postgresql://…")
    if engine_url.get_backend_name() == "sqlite":
        return _sqlite(Path(engine_url.database or ""))
    store = await Store.open(url, migrate=False)
    try:
        await store.ping()
    except StoreUnavailableError as exc:
        return CheckResult(NAME, "fail", detail=str(exc), fix=exc.fix)
    finally:
        await store.close()
    return CheckResult(NAME, "ok", detail=f"PostgreSQL at {engine_url.render_as_string(hide_password=True)}")


def _sqlite(path: Path) -> CheckResult:
    folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not os.access(path if path.exists() else folder, os.W_OK):
        return CheckResult(NAME, "fail", detail=f"{path} cannot be written", fix="make the folder writable")
    return CheckResult(NAME, "ok", detail=f"SQLite at {path}" + ("" if path.exists() else " (created by sync)"))
