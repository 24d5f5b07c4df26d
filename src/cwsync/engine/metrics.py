"""Prometheus metrics of runs (served at `/metrics` by `cwsync serve`): how long they take, what they did.

Observed by `recorded_run` for every kind of run (syncs, replays, callbacks' record runs, workflows), labelled by
tenant, integration (`integration_of` the run's pairs), kind and final status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client import Counter, Histogram

__all__ = ["RUN_DURATION", "RUN_RECORDS", "integration_of", "observe_run"]

RUN_DURATION = Histogram(
    "cwsync_run_duration_seconds",
    "Duration of finished runs",
    ["tenant", "integration", "kind", "status"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
RUN_RECORDS = Counter(
    "cwsync_run_records",
    "Records handled by finished runs, by action (created, updated, linked, unchanged, skipped, failed, ...)",
    ["tenant", "integration", "action"],
)

_OWNERS = {
    "companies": "hubspot",
    "contacts": "hubspot",
    "deals": "hubspot",
    "devices": "changes",
    "products": "catalog",
    "quotes": "catalog",
}


def integration_of(pair: str) -> str:
    """The integration a pair belongs to: its prefix (`hudu:contacts` → `hudu`), or the owner of a bare name."""
    if ":" in pair:
        return pair.split(":", 1)[0]
    return _OWNERS.get(pair, pair)


def observe_run(
    tenant: str, pairs: Sequence[str], *, kind: str, status: str, seconds: float, counts: Mapping[str, int]
) -> None:
    """Record one finished run."""
    integration = integration_of(pairs[0]) if pairs else "none"
    RUN_DURATION.labels(tenant, integration, kind, status).observe(seconds)
    for action, n in counts.items():
        if n:
            RUN_RECORDS.labels(tenant, integration, action).inc(n)
