"""`cwsync users add | passwd | grant | revoke | remove | list`: who may log in to the web console, and which
tenants each may see (docs/console.md).

Passwords are asked for on the terminal, hidden and twice (or read from standard input with `--password-stdin`,
for scripts); never taken as an argument, so they stay out of shell history and process lists. Exit codes: 0 done,
1 no such user / the name is taken / the store cannot be reached, 2 a bad name, password, role, tenant or
configuration.

**Tenants.** A user sees every tenant (`--all-tenants`, the default of `add`, and what users from before tenant
access have) or those given with `--tenant` (repeatable). The store is the deployment's, so any tenant file of a
tenants directory names it (`-c tenants/acme.yaml`); a tenant named here need not exist yet. A single configuration
file's console has one tenant and does not look at this.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cwsync.cli.output import console, done, fail, new_table
from cwsync.cli.sync import CONFIG, JSON, load, run_async

if TYPE_CHECKING:
    from cwsync.store import Store
    from cwsync.store.users import UserStore

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Users of the web console: add, change a password, remove, list.")

ROLE = typer.Option("viewer", "--role", help="admin (may change settings) or viewer (reads only).")
STDIN = typer.Option(False, "--password-stdin", help="Read the password from standard input (one line).")
TENANT = typer.Option(None, "--tenant", help="A tenant the user may see (repeat for more).")
ALL_TENANTS = typer.Option(False, "--all-tenants", help="Every tenant of the deployment, now and to come.")


def _which(tenants: list[str] | None, every: bool, *, default_every: bool) -> list[str] | None:
    """The tenants of `--tenant` / `--all-tenants` (None: every tenant), checked; exit 2 when both or neither (and
    no default) are given, or a name is no tenant name."""
    from cwsync.store.users import check_tenant

    if tenants and every:
        fail(2, "give --tenant or --all-tenants, not both")
    if not tenants and not every and not default_every:
        fail(2, "say which tenants: --tenant NAME (repeatable) or --all-tenants")
    if every or not tenants:
        return None
    try:
        return [check_tenant(t) for t in tenants]
    except ValueError as exc:
        fail(2, str(exc))


def _seen(tenants: frozenset[str] | None) -> str:
    return "every tenant" if tenants is None else (", ".join(sorted(tenants)) or "no tenant")


def _password(from_stdin: bool) -> str:
    from cwsync.store.users import check_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        return check_password(password)
    except ValueError as exc:
        fail(2, str(exc))


async def _users(config: Path) -> tuple[Store, UserStore]:
    from cwsync.store import Store
    from cwsync.store.users import UserStore

    store = await Store.open(load(config).store)
    return store, UserStore(store)


@app.command()
def add(
    name: str = typer.Argument(..., help="The user name to log in with."),
    role: str = ROLE,
    tenant: list[str] | None = TENANT,
    all_tenants: bool = ALL_TENANTS,
    password_stdin: bool = STDIN,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Add a user (the password is asked for, hidden) who sees the tenants of --tenant, or every tenant."""
    from cwsync.store.users import ROLES, UserExistsError, check_username

    try:
        name = check_username(name)
    except ValueError as exc:
        fail(2, str(exc))
    if role not in ROLES:
        fail(2, f"unknown role {role!r}: use {' or '.join(ROLES)}")
    tenants = _which(tenant, all_tenants, default_every=True)
    password = _password(password_stdin)

    async def work() -> None:
        store, users = await _users(config)
        try:
            await users.add(name, password, role=role, tenants=tenants)
        finally:
            await store.close()

    try:
        run_async(work)
    except UserExistsError as exc:
        fail(1, str(exc), fix=f"change the password with `cwsync users passwd {name}`")
    seen = None if tenants is None else frozenset(tenants)
    done(
        {"added": name, "role": role, "tenants": None if seen is None else sorted(seen)},
        as_json,
        f"added {role} [bold]{name}[/bold] (sees {_seen(seen)}): log in at the console",
    )


def _access(name: str, tenants: list[str] | None, config: Path, as_json: bool, *, grant: bool) -> None:
    from cwsync.store.users import UserNotFoundError

    async def work() -> frozenset[str] | None:
        store, users = await _users(config)
        try:
            changed = await (users.grant if grant else users.revoke)(name, tenants)
            return changed.tenants
        finally:
            await store.close()

    try:
        seen = run_async(work)
    except UserNotFoundError as exc:
        fail(1, str(exc), fix="`cwsync users list` shows who exists")
    except ValueError as exc:
        fail(1, str(exc), fix=f"`cwsync users revoke {name} --all-tenants`, then `grant {name} --tenant T`")
    done(
        {"user": name, "tenants": None if seen is None else sorted(seen)},
        as_json,
        f"[bold]{name}[/bold] now sees {_seen(seen)}",
    )


@app.command()
def grant(
    name: str = typer.Argument(..., help="The user who may see more tenants."),
    tenant: list[str] | None = TENANT,
    all_tenants: bool = ALL_TENANTS,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Let a user see a tenant too (--tenant, repeatable), or every tenant (--all-tenants); from their next page."""
    _access(name, _which(tenant, all_tenants, default_every=False), config, as_json, grant=True)


@app.command()
def revoke(
    name: str = typer.Argument(..., help="The user who may see fewer tenants."),
    tenant: list[str] | None = TENANT,
    all_tenants: bool = ALL_TENANTS,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Stop a user seeing a tenant (--tenant, repeatable), or any tenant (--all-tenants); from their next page."""
    _access(name, _which(tenant, all_tenants, default_every=False), config, as_json, grant=False)


@app.command()
def passwd(
    name: str = typer.Argument(..., help="The user whose password changes."),
    password_stdin: bool = STDIN,
    role: str | None = typer.Option(None, "--role", help="Also change the role (admin or viewer)."),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Change a user's password (and role); their open sessions end."""
    from cwsync.store.users import ROLES, UserNotFoundError

    if role is not None and role not in ROLES:
        fail(2, f"unknown role {role!r}: use {' or '.join(ROLES)}")
    password = _password(password_stdin)

    async def work() -> None:
        store, users = await _users(config)
        try:
            await users.set_password(name, password)
            if role is not None:
                await users.set_role(name, role)
        finally:
            await store.close()

    try:
        run_async(work)
    except UserNotFoundError as exc:
        fail(1, str(exc), fix="`cwsync users list` shows who exists")
    done({"changed": name, "role": role}, as_json, f"changed the password of [bold]{name}[/bold]")


@app.command()
def remove(
    name: str = typer.Argument(..., help="The user to remove."), config: Path = CONFIG, as_json: bool = JSON
) -> None:
    """Remove a user; their open sessions end."""
    from cwsync.store.users import UserNotFoundError

    async def work() -> None:
        store, users = await _users(config)
        try:
            await users.remove(name)
        finally:
            await store.close()

    try:
        run_async(work)
    except UserNotFoundError as exc:
        fail(1, str(exc), fix="`cwsync users list` shows who exists")
    done({"removed": name}, as_json, f"removed [bold]{name}[/bold]")


@app.command("list")
def list_users(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Every user, their role and the tenants they see."""

    async def work() -> list[dict[str, object]]:
        store, users = await _users(config)
        try:
            return [
                {
                    "name": u.username,
                    "role": u.role,
                    "tenants": None if u.tenants is None else sorted(u.tenants),
                    "created_at": u.created_at.isoformat(),
                }
                for u in await users.list()
            ]
        finally:
            await store.close()

    found = run_async(work)
    if as_json:
        print(json.dumps(found, indent=2))
        return
    if not found:
        console.print("no users yet: add one with `cwsync users add <name> --role admin`")
        return
    table = new_table("name", "role", "tenants", "since")
    for row in found:
        tenants = row["tenants"]
        seen = None if tenants is None else frozenset(str(t) for t in tenants)  # type: ignore[attr-defined]
        table.add_row(str(row["name"]), str(row["role"]), _seen(seen), str(row["created_at"])[:19])
    console.print(table)
