"""Change management → ConnectWise tickets (CB-1 … CB-6).

A change-management tool (or a script, or a form) drives this through the REST API (`/api/changes/...`) or the CLI
(`cwsync changes ...`); cwsync does the ConnectWise side:

- `cwsync.config.changes`: the `changes:` section (companies, boards, status mapping per lifecycle event, notes, time
  entries);
- `setup`: that section checked against ConnectWise's real boards, statuses and companies (`validate_statuses`);
- `models`: people, events, the change record and results (plain pydantic data);
- `core`: which event may follow which state, and what each event writes (pure, no I/O);
- `store` (over `cwsync.store.changes_tables`): change records and processed events (migration `0003_changes`);
- `workflow`: `ChangeWorkflow`, which reads, plans and applies.

This package's `__init__` imports nothing, so importing one of its modules stays cheap.
"""
