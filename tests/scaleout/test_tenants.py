"""Many tenants in one process (a tenants directory): each tenant's API, webhooks, jobs and runs are its own; the
`cwsync tenants` commands."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.cli.app import app
from cwsync.config.tenants import load_tenants
from cwsync.logs import configure_logging
from cwsync.runtime.intake import hubspot_signature_v3
from cwsync.server.deployment import Deployment, deployment
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import running_sandbox
from tests.scaleout.harness import cli, contact_ids, hubspot_only, write_tenant

ME = "http://testserver"


def _edit(name: str) -> Any:
    def edit(data: Any) -> None:
        hubspot_only(data)
        data["server"]["public_url"] = f"{ME}/t/{name}"
        data["server"]["api_token"] = f"token-{name}"
        data["server"]["hubspot_client_secret"] = "one-secret-for-both"  # even a shared secret does not cross

    return edit


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer token-{name}"}


@pytest.fixture
async def two_tenants(tmp_path: Path) -> AsyncIterator[tuple[Deployment, httpx.AsyncClient, list[int]]]:
    """acme and globex, each on its own sandbox, served by one process from a tenants directory (SQLite)."""
    directory = tmp_path / "tenants"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with (
        running_sandbox(SandboxSettings(records=60, seed=3)) as one,
        running_sandbox(SandboxSettings(records=60, seed=5)) as two,
    ):
        write_tenant(directory, "acme", one, store, edit=_edit("acme"))
        write_tenant(directory, "globex", two, store, edit=_edit("globex"))
        async with deployment(load_tenants(directory), many=True) as dep:
            asgi = await dep.app()
            await dep.start(schedule=False)
            try:
                transport = httpx.ASGITransport(app=asgi)
                async with httpx.AsyncClient(transport=transport, base_url=ME) as http:
                    yield dep, http, contact_ids(two, 3)
            finally:
                await dep.stop(grace=5)


async def test_a_tenant_sees_runs_and_changes_only_its_own(
    two_tenants: tuple[Deployment, httpx.AsyncClient, list[int]],
) -> None:
    """Replays through globex's API run as globex runs; acme's token, routes and API see none of them."""
    dep, http, ids = two_tenants
    assert (await http.get("/livez")).status_code == 200
    for contact in ids:
        r = await http.post(f"/t/globex/api/records/connectwise/contacts/{contact}/replay", headers=_auth("globex"))
        assert r.status_code == 202, r.text
    await dep.servers["globex"].runner.wait_idle(timeout=30)  # type: ignore[attr-defined]
    runs = (await http.get("/t/globex/api/runs", headers=_auth("globex"))).json()
    assert runs
    assert {run["status"] for run in runs} == {"succeeded"}
    run_id = runs[0]["run_id"]
    assert (await http.get("/t/acme/api/runs", headers=_auth("acme"))).json() == []
    assert (await http.get(f"/t/acme/api/runs/{run_id}", headers=_auth("acme"))).status_code == 404
    assert (await http.get("/t/acme/api/runs", headers=_auth("globex"))).status_code == 401  # the other's token
    assert (await http.post("/t/acme/api/sync", headers=_auth("globex"))).status_code == 401
    replay = f"/t/acme/api/records/connectwise/contacts/{ids[0]}/replay"
    assert (await http.post(replay, headers=_auth("globex"))).status_code == 401
    assert (await http.get(f"/t/acme/api/records/connectwise/contacts/{ids[0]}", headers=_auth("acme"))).json()[
        "decisions"
    ] == []
    assert (await dep.store.runs("acme", limit=10)) == []


async def test_webhooks_reach_only_the_tenant_of_their_path(
    two_tenants: tuple[Deployment, httpx.AsyncClient, list[int]],
) -> None:
    """A callback path names its tenant (another tenant's path: 404); a HubSpot webhook signed for acme's URL is
    refused at globex's, though both use one client secret."""
    dep, http, _ = two_tenants
    assert (await http.post("/t/acme/hooks/connectwise/globex", content=b"{}")).status_code == 404
    body = json.dumps([{"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": 5}]).encode()
    stamp = str(int(time.time() * 1000))
    signature = hubspot_signature_v3(
        client_secret="one-secret-for-both", method="POST", uri=f"{ME}/t/acme/hooks/hubspot", body=body, timestamp=stamp
    )
    headers = {"x-hubspot-request-timestamp": stamp, "x-hubspot-signature-v3": signature}
    assert (await http.post("/t/globex/hooks/hubspot", content=body, headers=headers)).status_code == 401
    assert (await http.post("/t/acme/hooks/hubspot", content=body, headers=headers)).status_code == 204
    await dep.servers["acme"].runner.wait_idle(timeout=30)  # type: ignore[attr-defined]
    assert await dep.store.runs("globex", limit=10) == []


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """stderr captured; logging back to the default after the test (which sets up `--log-format json`'s)."""
    try:
        yield capsys
    finally:
        configure_logging("warning")


async def test_log_lines_of_webhooks_and_jobs_name_their_tenant(
    json_logs: pytest.CaptureFixture[str], two_tenants: tuple[Deployment, httpx.AsyncClient, list[int]]
) -> None:
    """Every log line of a webhook's intake (refused or accepted), of its job and of the run it starts carries
    `tenant=`, and the right one (JSON logs, as `--log-format json` writes them)."""
    dep, http, ids = two_tenants
    configure_logging("info", "json")  # after the fixture's `cwsync init` runs, which set up the CLI's logging
    json_logs.readouterr()
    body = json.dumps([{"eventId": 7, "subscriptionType": "contact.propertyChange", "objectId": 5}]).encode()
    stamp = str(int(time.time() * 1000))
    uri = f"{ME}/t/acme/hooks/hubspot"
    signature = hubspot_signature_v3(
        client_secret="one-secret-for-both", method="POST", uri=uri, body=body, timestamp=stamp
    )
    headers = {"x-hubspot-request-timestamp": stamp, "x-hubspot-signature-v3": signature}
    assert (await http.post("/t/globex/hooks/hubspot", content=body, headers=headers)).status_code == 401
    assert (await http.post("/t/globex/hooks/connectwise/globex", content=b"{}")).status_code == 401
    assert (await http.post("/t/acme/hooks/hubspot", content=body, headers=headers)).status_code == 204
    replay = f"/t/globex/api/records/connectwise/contacts/{ids[0]}/replay"
    assert (await http.post(replay, headers=_auth("globex"))).status_code == 202
    for server in dep.servers.values():
        await server.runner.wait_idle(timeout=30)  # type: ignore[attr-defined]
    lines = json_logs.readouterr().err.splitlines()
    assert [line for line in lines if not line.startswith("{")] == []  # every line is JSON: none escapes the check
    events = [json.loads(line) for line in lines]
    events = [e for e in events if "http://testserver" not in e["event"]]  # the test's own client's lines
    names = {e["event"] for e in events}
    assert {"intake.refused", "job.batch_done"} <= names, names
    assert [e for e in events if "tenant" not in e] == []
    refused = [e["tenant"] for e in events if e["event"] == "intake.refused"]
    assert refused
    assert set(refused) == {"globex"}
    done = sorted(e["tenant"] for e in events if e["event"] == "job.batch_done")
    assert done == ["acme", "globex"]


def test_tenants_add_list_and_check(tmp_path: Path) -> None:
    """`tenants add` writes a file under /t/<name> with its own secret variables; `check` names each broken rule."""
    directory = tmp_path / "tenants"
    store = "postgresql://cwsync@db/cwsync"
    for name in ("acme", "globex"):
        added = cli.invoke(
            app,
            ["tenants", "add", name, "-t", str(directory), "--public-url", "https://sync.example", "--store", store],
        )
        assert added.exit_code == 0, added.stdout
    text = (directory / "acme.yaml").read_text()
    assert "public_url: https://sync.example/t/acme" in text
    assert "${CWSYNC_ACME_CW_PRIVATE_KEY}" in text
    env = {
        "CWSYNC_ACME_CW_PRIVATE_KEY": "k",
        "CWSYNC_ACME_HUBSPOT_TOKEN": "t",
        "CWSYNC_GLOBEX_CW_PRIVATE_KEY": "k",
        "CWSYNC_GLOBEX_HUBSPOT_TOKEN": "t",
        "CWSYNC_ACME_API_TOKEN": "a",
        "CWSYNC_GLOBEX_API_TOKEN": "b",
    }
    listed = cli.invoke(app, ["tenants", "list", "-t", str(directory), "--json"], env=env)
    assert listed.exit_code == 0, listed.stdout
    assert [t["tenant"] for t in json.loads(listed.stdout)["tenants"]] == ["acme", "globex"]
    assert cli.invoke(app, ["tenants", "check", "-t", str(directory)], env=env).exit_code == 0
    (directory / "initech.yaml").write_text((directory / "globex.yaml").read_text())  # globex's name, URL and token
    broken = cli.invoke(app, ["tenants", "check", "-t", str(directory)], env=env)
    assert broken.exit_code == 2
    assert "initech.yaml: tenant: 'globex' is not its file's name" in broken.stdout.replace("\n", "")
    assert "the same token as tenant 'globex'" in broken.stdout.replace("\n", "")
    assert (
        cli.invoke(
            app, ["tenants", "add", "acme", "-t", str(directory), "--public-url", "https://x", "--store", store]
        ).exit_code
        == 1
    )
