"""Prometheus counters of the calls cwsync makes to the external APIs (served at `/metrics` by `cwsync serve`).

Counted in `HttpApi` for every connector, labelled by the system it talks to (`connectwise`, `hubspot`, `hudu`).
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["API_RATE_LIMITED", "API_REQUESTS", "API_RETRIES", "system_of"]

API_REQUESTS = Counter(
    "cwsync_api_requests",
    "Requests sent to an external API (each attempt), by system and the answer's status code ('error': no answer)",
    ["system", "status"],
)
API_RATE_LIMITED = Counter("cwsync_api_rate_limited", "429 answers from an external API, by system", ["system"])
API_RETRIES = Counter("cwsync_api_retries", "Attempts repeated after a retriable error, by system", ["system"])


def system_of(connector: str) -> str:
    """The system a connector's name stands for (`hubspot-objects` → `hubspot`)."""
    return connector.split("-", 1)[0]
