"""Per-user tenant access (#14): `cwsync users add --tenant / --all-tenants`, `grant`, `revoke`; the migration that
keeps every existing user on every tenant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.store import Store
from cwsync.store.store import alembic_config
from cwsync.store.users import UserStore
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import running_sandbox
from tests.console.conftest import PASSWORD, Console, csrf_of
from tests.scaleout.harness import free_port, healthy, hubspot_only, processes, wait_for, write_tenant

runner = CliRunner()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "cwsync.yaml"
    path.write_text(
        f"store: sqlite:///{tmp_path / 'cwsync.db'}\nconnections:\n  connectwise:\n    site: cw.example\n"
        "    company_id: x\n    public_key: p\n    private_key: k\n    client_id: c\n",
        encoding="utf-8",
    )
    return path


def _cli(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["users", *args, "-c", str(config)], input=stdin)
    return result.exit_code, result.stdout


def _seen(config: Path) -> dict[str, list[str] | None]:
    code, out = _cli(config, "list", "--json")
    assert code == 0, out
    return {row["name"]: row["tenants"] for row in json.loads(out)}


def test_users_get_tenants_from_the_cli(tmp_path: Path) -> None:
    """add --tenant (repeated) restricts, add alone or --all-tenants sees every tenant; grant and revoke change
    it; what cannot be done is refused with the reason and exit code."""
    config = _config(tmp_path)
    code, out = _cli(config, "add", "bob", "--tenant", "acme", "--tenant", "globex", "--password-stdin", stdin=PASSWORD)
    assert code == 0, out
    assert "sees acme, globex" in out
    assert _cli(config, "add", "ann", "--role", "admin", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert _cli(config, "add", "cy", "--all-tenants", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert _seen(config) == {"ann": None, "bob": ["acme", "globex"], "cy": None}

    code, out = _cli(config, "revoke", "bob", "--tenant", "acme")
    assert (code, "bob now sees globex") == (0, out.strip())
    code, out = _cli(config, "grant", "bob", "--tenant", "initech", "--json")
    assert code == 0
    assert json.loads(out) == {"user": "bob", "tenants": ["globex", "initech"]}
    assert _cli(config, "grant", "bob", "--all-tenants")[0] == 0
    assert _seen(config)["bob"] is None
    code, out = _cli(config, "revoke", "ann", "--tenant", "acme")  # sees every tenant: which would she keep?
    assert code == 1
    assert "sees every tenant" in out
    assert _cli(config, "revoke", "ann", "--all-tenants")[0] == 0
    assert _seen(config)["ann"] == []
    code, out = _cli(config, "list")
    assert "no tenant" in out
    assert "every tenant" in out

    code, out = _cli(config, "grant", "bob")
    assert code == 2
    assert "--tenant NAME" in out
    code, out = _cli(config, "grant", "bob", "--tenant", "acme", "--all-tenants")
    assert code == 2
    assert "not both" in out
    code, out = _cli(config, "grant", "bob", "--tenant", "no/such")
    assert code == 2
    assert "no tenant name" in out
    code, out = _cli(config, "grant", "nobody", "--tenant", "acme")
    assert code == 1
    assert "no user named 'nobody'" in out


def test_users_from_before_tenant_access_keep_every_tenant(tmp_path: Path) -> None:
    """Migration 0011 gives the users that exist every tenant; a grant then restricts nothing it should not."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url=url), "0009")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO console_users (username, password_hash, role, created_at, updated_at) "
                "VALUES ('old', 'x', 'admin', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()

    async def check() -> None:
        store = await Store.open(url)  # migrates to head
        try:
            users = UserStore(store)
            old = await users.user("old")
            assert old.tenants is None
            assert old.may_see("anything")
            await users.add("new", PASSWORD, tenants=["acme"])
            new = await users.user("new")
            assert new.tenants == frozenset({"acme"})
            assert new.visible(["globex", "acme"]) == ["acme"]
            await users.remove("new")  # its grants go with it
            async with store._connect() as conn:
                left = (await conn.execute(sa.text("SELECT count(*) FROM console_user_tenants"))).scalar_one()
            assert left == 0
        finally:
            await store.close()

    asyncio.run(check())


# --- the console of `cwsync serve --tenants`, on loopback --------------------------------------------------------


@dataclass
class Served:
    """`cwsync serve --tenants DIR` on two tenants (acme, globex), its address, the config of one tenant file."""

    base: str
    config: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10)

    def login(self, name: str) -> httpx.Client:
        http = self.client()
        form = http.get("/login")
        data = {"username": name, "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "/"}
        assert http.post("/login", data=data).status_code == 303
        return http


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """acme and globex on their sandboxes (one SQLite store), users ann (every tenant, admin), bob (acme, viewer)
    and nia (no tenant), and `cwsync serve --tenants`."""
    folder = tmp_path_factory.mktemp("user-tenants")
    directory, store, port = folder / "tenants", f"sqlite:///{folder / 'store.db'}", free_port()

    def edit(name: str) -> Callable[[Any], None]:
        def change(data: Any) -> None:
            hubspot_only(data)
            data["server"]["public_url"] = f"http://127.0.0.1:{port}/t/{name}"
            data["server"]["api_token"] = f"token-{name}"

        return change

    with (
        running_sandbox(SandboxSettings(records=20, seed=3)) as one,
        running_sandbox(SandboxSettings(records=20, seed=5)) as other,
        processes() as procs,
    ):
        for name, box in (("acme", one), ("globex", other)):
            write_tenant(directory, name, box, store, edit=edit(name))
        config = directory / "acme.yaml"
        for args in (["ann", "--role", "admin"], ["bob", "--tenant", "acme"], ["nia", "--tenant", "initech"]):
            assert _cli(config, "add", *args, "--password-stdin", stdin=PASSWORD)[0] == 0
        log = folder / "serve.log"
        proc = procs.start("serve", "--tenants", str(directory), "--port", str(port), "--no-schedule", log=log)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: healthy(base, proc, log), "cwsync serve --tenants to answer")
        yield Served(base, config)


def test_a_user_sees_only_their_tenants_and_others_are_a_403_page(served: Served) -> None:
    """bob (acme only) is sent to acme, the switcher lists acme alone, globex's pages are a 403 page with the
    navigation (never JSON), an unknown tenant or page a 404 page; the tenants' APIs are as before."""
    anonymous = served.client()
    refused = anonymous.get("/t/globex/runs")
    assert (refused.status_code, refused.headers["location"]) == (303, "/login?next=/t/globex/runs")  # no hint
    bob = served.login("bob")
    home = bob.get("/")
    assert (home.status_code, home.headers["location"]) == (303, "/t/acme/")
    home = bob.get("/t/acme/")
    assert home.status_code == 200
    assert '<option value="acme" selected>acme</option>' in home.text
    assert "globex" not in home.text
    for path in ("/t/globex/", "/t/globex/runs", "/t/globex/connections"):
        page = bob.get(path)
        assert page.status_code == 403, path
        assert page.headers["content-type"].startswith("text/html")
        assert "Not your tenant" in page.text
        assert "cwsync users grant bob --tenant" in page.text
        assert '<nav class="side">' in page.text
        assert 'href="/t/acme/runs"' in page.text  # the navigation leads back to bob's tenant
    token = csrf_of(home.text)
    assert bob.post("/tenant", data={"csrf_token": token, "tenant": "globex"}).status_code == 404
    posted = bob.post("/t/globex/runs/sync", data={"csrf_token": token, "integration": "hubspot"})
    assert posted.status_code == 403
    assert "Not your tenant" in posted.text
    unknown = bob.get("/t/initech/runs")
    assert unknown.status_code == 404
    assert "Unknown tenant" in unknown.text
    for path in ("/t/acme/no-such-page", "/t/globex/no-such-page"):
        missing = bob.get(path)
        assert missing.status_code == 404
        assert "Page not found" in missing.text
    assert bob.get("/t/acme/api/health").status_code == 200
    assert bob.get("/t/initech/api/health").json() == {"detail": "Not Found"}

    nia = served.login("nia")  # granted a tenant this server does not serve
    nothing = nia.get("/")
    assert nothing.status_code == 403
    assert "No tenant" in nothing.text
    assert '<nav class="side">' not in nothing.text


def test_a_grant_or_revoke_applies_to_the_next_page(served: Served) -> None:
    """Tenant access is read with every request: a grant opens globex to bob without logging in again, a revoke
    closes it; ann (every tenant) switches between both, each in its own address."""
    bob = served.login("bob")
    assert bob.get("/t/globex/").status_code == 403
    assert _cli(served.config, "grant", "bob", "--tenant", "globex")[0] == 0
    try:
        page = bob.get("/t/globex/runs")
        assert page.status_code == 200
        assert '<option value="globex" selected>globex</option>' in page.text
        assert bob.get("/t/acme/runs").status_code == 200  # two tabs, two tenants
    finally:
        assert _cli(served.config, "revoke", "bob", "--tenant", "globex")[0] == 0
    assert bob.get("/t/globex/runs").status_code == 403
    ann = served.login("ann")
    home = ann.get("/t/globex/")
    assert '<option value="acme">acme</option>' in home.text
    assert '<option value="globex" selected>globex</option>' in home.text
    assert ann.get("/").headers["location"] == "/t/globex/"  # the last tenant shown
    missing_csrf = ann.post("/t/globex/runs/sync", data={"integration": "hubspot"})
    assert missing_csrf.status_code == 403
    assert "Form expired" in missing_csrf.text


async def test_a_single_files_console_ignores_tenant_access(console: Console) -> None:
    """One configuration file, one tenant, at `/`: a user granted other tenants only still sees its pages (the
    setting is for tenants directories), and no address is prefixed."""
    await console.users.add("rae", PASSWORD, role="viewer", tenants=["elsewhere"])
    assert (await console.login("rae")).status_code == 303
    runs = await console.http.get("/runs")
    assert runs.status_code == 200
    assert '<option value="default" selected>default</option>' in runs.text
    assert 'href="/runs"' in runs.text
    assert "/t/" not in runs.text
