"""`/livez`, `/readyz`, `/metrics` and request ids on the server, in-process against the emulators (issue 16)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from alembic import command
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import cwsync
from cwsync.logs import configure_logging
from cwsync.server.registry import HUBSPOT
from cwsync.store import Store, schema
from cwsync.store.store import alembic_config
from cwsync_sandbox.faults import FaultSettings
from tests.server.test_server import System, _signed_callback, system  # noqa: F401  (the fixture)

METRICS = {
    "cwsync_jobs",
    "cwsync_queue_lag_seconds",
    "cwsync_run_duration_seconds",
    "cwsync_run_records",
    "cwsync_api_requests",
    "cwsync_api_rate_limited",
    "cwsync_api_retries",
    "cwsync_webhooks",
}


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_name_every_family_and_count_what_happened(system: System) -> None:  # noqa: F811
    """After a sync, a callback, a refused hook and 429s: every family is served, with the counts moving."""
    before = {
        "calls": _sample("cwsync_api_requests_total", {"system": "connectwise", "status": "200"}),
        "limited": _sample("cwsync_api_rate_limited_total", {"system": "connectwise"}),
        "retries": _sample("cwsync_api_retries_total", {"system": "connectwise"}),
        "accepted": _sample("cwsync_webhooks_total", {"source": "connectwise", "outcome": "accepted"}),
        "rejected": _sample("cwsync_webhooks_total", {"source": "connectwise", "outcome": "rejected"}),
    }
    body, signature = await _signed_callback(system, 3, "metrics-1")
    accepted = await system.app.post(
        "/hooks/connectwise/default?id=3", content=body, headers={"x-content-signature": signature}
    )
    assert accepted.status_code == 204
    assert (await system.app.post("/hooks/connectwise/default?id=3", content=body)).status_code == 401
    system.cw_box.faults.update(FaultSettings(rate_limit_share=0.5, retry_after=0, seed=3))
    try:
        await HUBSPOT.required(system.server).run(full=True)
    finally:
        system.cw_box.faults.update(FaultSettings())
    await system.server.runner.wait_idle(timeout=20)

    answer = await system.app.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    assert set(families) >= METRICS
    records = {(s.labels["integration"], s.labels["action"]) for s in families["cwsync_run_records"].samples}
    assert ("hubspot", "created") in records
    durations = [s for s in families["cwsync_run_duration_seconds"].samples if s.name.endswith("_count")]
    assert any(s.labels["status"] == "succeeded" and s.value >= 1 for s in durations)
    assert ("hubspot", "done") in {
        (s.labels["integration"], s.labels["status"]) for s in families["cwsync_jobs"].samples
    }
    assert _sample("cwsync_api_requests_total", {"system": "connectwise", "status": "200"}) > before["calls"]
    assert _sample("cwsync_api_rate_limited_total", {"system": "connectwise"}) > before["limited"]
    assert _sample("cwsync_api_retries_total", {"system": "connectwise"}) > before["retries"]
    assert _sample("cwsync_webhooks_total", {"source": "connectwise", "outcome": "accepted"}) == before["accepted"] + 1
    assert _sample("cwsync_webhooks_total", {"source": "connectwise", "outcome": "rejected"}) == before["rejected"] + 1


async def test_livez_and_readyz_fail_on_a_missing_migration(system: System, tmp_path: Path) -> None:  # noqa: F811
    """Ready at the newest migration; a store one migration behind → 503 naming it and the fix; livez stays 200."""
    assert (await system.app.get("/livez")).json() == {"status": "ok"}
    ready = await system.app.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["migrations"]["ok"] is True
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    previous = schema.history()[-2].revision
    await asyncio.to_thread(command.upgrade, alembic_config(url=url), previous)  # every migration but the newest
    behind_store = await Store.open(url, migrate=False)
    live, system.server.store = system.server.store, behind_store
    try:
        behind = await system.app.get("/readyz")
        assert behind.status_code == 503
        migrations = behind.json()["checks"]["migrations"]
        assert (migrations["ok"], migrations["current"], migrations["fix"]) == (
            False,
            previous,
            "cwsync migrate upgrade",
        )
        assert migrations["head"] == schema.head()
        assert (await system.app.get("/livez")).status_code == 200  # alive, just not ready
        await behind_store.close()
        await asyncio.to_thread(_unopenable, tmp_path / "behind.db")  # the store is unreachable
        gone = await system.app.get("/readyz")
        assert gone.status_code == 503
        assert gone.json()["checks"]["store"]["ok"] is False
    finally:
        system.server.store = live
    assert (await system.app.get("/readyz")).status_code == 200


async def test_request_id_is_returned_and_in_the_json_logs(
    system: System,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A caller's X-Request-ID comes back and is on the log events of that request (--log-format json)."""
    configure_logging("info", "json")
    answer = await system.app.post("/hooks/connectwise/nobody?id=1", content=b"{}", headers={"X-Request-ID": "req-42"})
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] == "req-42"
    fresh = await system.app.get("/livez", headers={"X-Request-ID": "not a sane id!"})
    assert fresh.headers["x-request-id"] != "not a sane id!"
    assert len(fresh.headers["x-request-id"]) == 32
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    refused = [e for e in events if e.get("event") == "intake.refused"]
    assert refused
    assert refused[-1]["request_id"] == "req-42"
    assert {"timestamp", "level"} <= set(refused[-1])


def _unopenable(path: Path) -> None:
    """Replace a database file with a folder: SQLite cannot open it."""
    path.unlink()
    path.mkdir()


async def test_docs_use_local_assets_and_declare_the_bearer_scheme(system: System) -> None:  # noqa: F811
    """/docs loads Swagger UI from the server itself (no CDN), and the API's routes require the bearer scheme."""
    page = await system.app.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    scripts = re.findall(r'src="([^"]+\.js)"', page.text) + re.findall(r'href="([^"]+\.css)"', page.text)
    assert scripts
    for asset in scripts:
        assert asset.startswith("/"), asset  # served here
        fetched = await system.app.get(asset)
        assert fetched.status_code == 200
        assert len(fetched.content) > 10_000
    spec = (await system.app.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <server.api_token>` (every /api route but /api/health)",
    }
    assert spec["paths"]["/api/runs"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/api/health"]["get"]
    assert spec["info"]["version"] == cwsync.__version__
