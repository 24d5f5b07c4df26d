"""The console of a tenants directory: one console at the root for every tenant, a user switches between them and
each page shows the chosen tenant's store, file and connections (#14)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.config.tenants import load_tenants
from cwsync.console import mount
from cwsync.server.deployment import Deployment, deployment
from cwsync.store import Counts
from cwsync.store.users import UserStore
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.console.conftest import PASSWORD, csrf_of
from tests.scaleout.harness import hubspot_only, write_tenant

ME = "http://testserver"


def _edit(name: str) -> Callable[[Any], None]:
    def edit(data: Any) -> None:
        hubspot_only(data)
        data["server"]["public_url"] = f"{ME}/t/{name}"
        data["server"]["api_token"] = f"token-{name}"

    return edit


@dataclass
class Two:
    """Two tenants served by one deployment with the console, and a browser-like client."""

    dep: Deployment
    http: httpx.AsyncClient
    sites: dict[str, str]


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[Two]:
    """acme and globex (each on its own sandbox, one store), the console mounted as `cwsync serve` does."""
    directory = tmp_path / "tenants"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with (
        running_sandbox(SandboxSettings(records=20, seed=3)) as one,
        running_sandbox(SandboxSettings(records=20, seed=5)) as other,
    ):
        boxes: dict[str, RunningSandbox] = {"acme": one, "globex": other}
        for name, box in boxes.items():
            write_tenant(directory, name, box, store, edit=_edit(name))
        async with deployment(load_tenants(directory), many=True, mount=mount) as dep:
            asgi = await dep.app()
            await UserStore(dep.store).add("ann", PASSWORD, role="admin")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=ME) as http:
                yield Two(dep, http, {name: box.base_url for name, box in boxes.items()})


async def _login(http: httpx.AsyncClient) -> None:
    form = await http.get("/login")
    data = {"username": "ann", "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "/"}
    assert (await http.post("/login", data=data)).status_code == 303


async def test_a_user_switches_tenants_and_each_page_is_the_chosen_tenants(two: Two) -> None:
    """The top bar lists both tenants; every page lives under its tenant's /t/<tenant>/ and shows that tenant only
    (runs, the dashboard, connections); `/` and the unprefixed pages go to the session's tenant, and switching
    changes it; an unknown tenant is refused."""
    store = two.dep.store
    run_id = await store.start_run("globex", pairs=["contacts"], kind="incremental", trigger="cli")
    await store.finish_run(run_id, status="succeeded", counts=Counts(created=3))
    await _login(two.http)
    home = await two.http.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/t/acme/"
    home = await two.http.get("/t/acme/")
    assert home.status_code == 200
    assert '<option value="acme" selected>acme</option>' in home.text
    assert '<option value="globex">globex</option>' in home.text
    assert 'href="/t/acme/runs"' in home.text  # the navigation stays on the tenant
    assert (await two.http.get("/runs?status=failed")).headers["location"] == "/t/acme/runs?status=failed"
    runs = await two.http.get("/t/acme/runs")
    assert f'href="/t/acme/runs/{run_id}"' not in runs.text  # acme has no run
    assert (await two.http.get(f"/t/acme/runs/{run_id}")).status_code == 404  # nor may it open globex's
    connections = await two.http.get("/t/acme/connections")
    assert two.sites["acme"] in connections.text
    assert two.sites["globex"] not in connections.text
    # both tenants at once (two tabs): the address says which
    runs = await two.http.get("/t/globex/runs")
    assert f'href="/t/globex/runs/{run_id}"' in runs.text
    assert (await two.http.get(f"/t/globex/runs/{run_id}")).status_code == 200
    connections = await two.http.get("/t/globex/connections")
    assert two.sites["globex"] in connections.text
    assert two.sites["acme"] not in connections.text
    token = csrf_of(home.text)
    switched = await two.http.post("/tenant", data={"csrf_token": token, "tenant": "acme"})
    assert (switched.status_code, switched.headers["location"]) == (303, "/t/acme/")
    assert (await two.http.get("/")).headers["location"] == "/t/acme/"
    switched = await two.http.post("/tenant", data={"csrf_token": token, "tenant": "globex"})
    assert (switched.status_code, switched.headers["location"]) == (303, "/t/globex/")
    assert (await two.http.get("/")).headers["location"] == "/t/globex/"
    refused = await two.http.post("/tenant", data={"csrf_token": token, "tenant": "initech"})
    assert refused.status_code == 404
    assert "Unknown tenant" in refused.text


async def test_each_tenants_api_stays_under_its_path(two: Two) -> None:
    """The tenants' REST APIs keep their /t/<tenant> paths beside the console at the root."""
    assert (await two.http.get("/livez")).status_code == 200
    assert (await two.http.get("/t/acme/api/health")).status_code == 200
    assert (await two.http.get("/api/health")).status_code == 404
    assert (await two.http.get("/login")).status_code == 200
