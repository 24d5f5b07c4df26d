"""SIGTERM mid-job drains `serve` and `worker`: exit 0, nothing left `running` (jobs, runs, procrastinate jobs)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.scaleout.harness import API_TOKEN, Processes, contact_ids, healthy, processes, query, wait_for, write_tenant

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def _slow_hubspot(sandbox: RunningSandbox) -> None:
    """Every HubSpot request takes 2 s: a replay is still running when the signal comes."""
    r = httpx.put(f"{sandbox.hubspot_url}/_sandbox/faults", json={"latency_ms": 2000})
    assert r.status_code == 200, r.text


def _replay_and_stop(
    procs: Processes, proc: subprocess.Popen[str], base: str, sandbox: RunningSandbox, url: str
) -> None:
    for contact in contact_ids(sandbox, 3):
        assert httpx.post(f"{base}/api/records/connectwise/contacts/{contact}/replay", headers=AUTH).status_code == 202
    wait_for(lambda: query(url, "SELECT count(*) FROM runs WHERE status = 'running'")[0][0] > 0, "a run to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, procs.output(proc)


def _nothing_running(url: str) -> None:
    assert query(url, "SELECT count(*) FROM jobs WHERE status = 'running'")[0][0] == 0
    assert query(url, "SELECT count(*) FROM runs WHERE status = 'running'")[0][0] == 0


@pytest.fixture
def slow_sandbox() -> RunningSandbox:
    """A sandbox whose HubSpot answers in 2 s."""
    with running_sandbox(SandboxSettings(records=80, seed=4)) as sandbox:
        _slow_hubspot(sandbox)
        yield sandbox  # type: ignore[misc]


def test_sigterm_drains_serve_mid_job(tmp_path: Path, slow_sandbox: RunningSandbox) -> None:
    """serve (SQLite, in-process runner) gets SIGTERM while a replay runs: exit 0, the job released, no run running."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    tenant = write_tenant(tmp_path, "default", slow_sandbox, url)
    with processes() as procs:
        log = tmp_path / "serve.log"
        proc = procs.start("serve", "-c", str(tenant.path), "--no-schedule", "--grace", "0.5", log=log)
        wait_for(lambda: healthy(tenant.base, proc, log), "serve to start", 90)
        _replay_and_stop(procs, proc, tenant.base, slow_sandbox, url)
    _nothing_running(url)
    assert query(url, "SELECT count(*) FROM jobs WHERE status = 'queued'")[0][0] > 0  # released, for the next start


def test_sigterm_drains_worker_mid_job(tmp_path: Path, slow_sandbox: RunningSandbox, pg_url: str) -> None:
    """A worker (PostgreSQL, procrastinate) gets SIGTERM mid-job: exit 0, the job back in the queue, nothing running."""
    tenant = write_tenant(tmp_path, "default", slow_sandbox, pg_url)
    with processes() as procs:
        log = tmp_path / "serve.log"
        serve = procs.start("serve", "-c", str(tenant.path), "--no-schedule", "--no-worker", log=log)
        wait_for(lambda: healthy(tenant.base, serve, log), "serve to start", 90)
        worker = procs.start(
            "worker", "-c", str(tenant.path), "--no-schedule", "--grace", "0.5", log=tmp_path / "w.log"
        )
        _replay_and_stop(procs, worker, tenant.base, slow_sandbox, pg_url)
    _nothing_running(pg_url)
    assert query(pg_url, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")[0][0] == 0
    assert query(pg_url, "SELECT count(*) FROM jobs WHERE status = 'queued'")[0][0] > 0
