"""Per-user tenant access (#14): `cwsync users add --tenant / --all-tenants`, `grant`, `revoke`; the migration that
keeps every existing user on every tenant."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.store import Store
from cwsync.store.store import alembic_config
from cwsync.store.users import UserStore
from tests.console.conftest import PASSWORD

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
    """Migration 0010 gives the users that exist every tenant; a grant then restricts nothing it should not."""
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
