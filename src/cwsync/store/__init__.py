"""The store (PL-5): links, cursors, runs and run items in SQLite (default) or PostgreSQL, schema by Alembic.

::

    store = await Store.open("sqlite:///cwsync.db")          # or postgresql://user@host/db; migrates to head
    async with store.transaction() as tx:                     # all or nothing
        await tx.upsert_links(links)
        await tx.add_run_items(items)
        await tx.set_cursor("default", "companies", "left", watermark)
    await store.close()

Only plain records (`Link`, `RunRecord`, `RunItem`, `Counts`, `NewJob`, `JobRecord`) cross this boundary, never ORM
rows. `JobStore(store)` holds the durable job queue of the in-process runner (`cwsync.store.jobs`).
"""

import cwsync.store.changes_tables  # noqa: F401  (registers the change tables on `Base`: its metadata is the schema)
from cwsync.store import config_versions as _config_versions  # noqa: F401  (the configuration's versions, likewise)
from cwsync.store import console_tables as _console_tables  # noqa: F401  (the console's tables, likewise)
from cwsync.store.jobs import JobNotRunningError, JobStore
from cwsync.store.records import (
    ITEM_COLUMNS,
    Action,
    Counts,
    Flow,
    ItemRow,
    ItemStatus,
    JobKind,
    JobRecord,
    JournalEntry,
    LastWriter,
    Link,
    NewJob,
    RunItem,
    RunKind,
    RunRecord,
    Trigger,
)
from cwsync.store.store import Reads, RunNotFoundError, Store, StoreUnavailableError, Tx, async_url

__all__ = [
    "ITEM_COLUMNS",
    "Action",
    "Counts",
    "Flow",
    "ItemRow",
    "ItemStatus",
    "JobKind",
    "JobNotRunningError",
    "JobRecord",
    "JobStore",
    "JournalEntry",
    "LastWriter",
    "Link",
    "NewJob",
    "Reads",
    "RunItem",
    "RunKind",
    "RunNotFoundError",
    "RunRecord",
    "Store",
    "StoreUnavailableError",
    "Trigger",
    "Tx",
    "async_url",
]
