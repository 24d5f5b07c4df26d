"""Two tenants on one PostgreSQL store, each with its own `serve`: no process touches the other's jobs or runs."""

from __future__ import annotations

from pathlib import Path

import httpx

from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import running_sandbox
from tests.scaleout.harness import API_TOKEN, contact_ids, healthy, processes, query, wait_for, write_tenant

REPLAYS = 12


def test_replays_sent_to_beta_run_only_in_betas_process(tmp_path: Path, pg_url: str) -> None:
    """12 replays to beta's API run in beta's process only; the default process takes none; none stays running."""
    with (
        running_sandbox(SandboxSettings(records=150, seed=6)) as first,
        running_sandbox(SandboxSettings(records=150, seed=9)) as second,
        processes() as procs,
    ):
        default = write_tenant(tmp_path, "default", first, pg_url)
        beta = write_tenant(tmp_path, "beta", second, pg_url)
        logs = {t.name: tmp_path / f"serve-{t.name}.log" for t in (default, beta)}
        serving = {
            t.name: procs.start("serve", "-c", str(t.path), "--no-schedule", log=logs[t.name]) for t in (default, beta)
        }
        for tenant in (default, beta):
            wait_for(lambda t=tenant: healthy(t.base, serving[t.name], logs[t.name]), f"{tenant.name} to serve")
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        ids = contact_ids(second, REPLAYS)
        for contact in ids:
            url = f"{beta.base}/api/records/connectwise/contacts/{contact}/replay"
            assert httpx.post(url, headers=auth).status_code == 202

        def settled() -> bool:
            rows = query(pg_url, "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
            return rows[0][0] == 0

        wait_for(settled, "the replays to finish", 60)
        jobs = query(pg_url, "SELECT tenant, status, worker FROM jobs")
        assert len(jobs) >= 1
        beta_pid = serving["beta"].pid
        assert {(tenant, status) for tenant, status, _ in jobs} == {("beta", "done")}
        assert all(worker.split(":")[1] == str(beta_pid) for _, _, worker in jobs), jobs
        runs = query(pg_url, "SELECT tenant, status, trigger FROM runs")
        assert {(tenant, status, trigger) for tenant, status, trigger in runs} == {("beta", "succeeded", "api")}
        replayed = query(pg_url, "SELECT DISTINCT left_id FROM run_items WHERE pair = 'contacts'")
        assert {str(c) for c in ids} <= {str(row[0]) for row in replayed}
        beta_run = query(pg_url, "SELECT id FROM runs WHERE tenant = 'beta' LIMIT 1")[0][0]
        assert httpx.get(f"{beta.base}/api/runs/{beta_run}", headers=auth).status_code == 200
        assert httpx.get(f"{default.base}/api/runs/{beta_run}", headers=auth).status_code == 404
        assert httpx.get(f"{default.base}/api/runs", headers=auth).json() == []
        record = f"api/records/connectwise/contacts/{ids[0]}"
        assert httpx.get(f"{beta.base}/{record}", headers=auth).json()["decisions"] != []
        assert httpx.get(f"{default.base}/{record}", headers=auth).json()["decisions"] == []
        assert httpx.post(f"{default.base}/hooks/connectwise/beta", content=b"{}").status_code == 404
