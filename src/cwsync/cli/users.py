"""`cwsync users add | passwd | remove | list`: who may log in to the web console (docs/console.md).

Passwords are asked for on the terminal, hidden and twice (or read from standard input with `--password-stdin`,
for scripts); never taken as an argument, so they stay out of shell history and process lists. Exit codes: 0 done,
1 no such user / the name is taken / the store cannot be reached, 2 a bad name, password, role or configuration.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cwsync.cli.output import console, fail, new_table
from cwsync.cli.sync import CONFIG, JSON, load, run_async

if TYPE_CHECKING:
    from cwsync.store import Store
    from cwsync.store.users import UserStore

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Users of the web console: add, change a password, remove, list.")

ROLE = typer.Option("viewer", "--role", help="admin (may change settings) or viewer (reads only).")
STDIN = typer.Option(False, "--password-stdin", help="Read the password from standard input (one line).")


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


def _done(result: dict[str, object], as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        console.print(text)


@app.command()
def add(
    name: str = typer.Argument(..., help="The user name to log in with."),
    role: str = ROLE,
    password_stdin: bool = STDIN,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Add a user (the password is asked for, hidden)."""
    from cwsync.store.users import ROLES, UserExistsError, check_username

    try:
        name = check_username(name)
    except ValueError as exc:
        fail(2, str(exc))
    if role not in ROLES:
        fail(2, f"unknown role {role!r}: use {' or '.join(ROLES)}")
    password = _password(password_stdin)

    async def work() -> None:
        store, users = await _users(config)
        try:
            await users.add(name, password, role=role)
        finally:
            await store.close()

    try:
        run_async(work)
    except UserExistsError as exc:
        fail(1, str(exc), fix=f"change the password with `cwsync users passwd {name}`")
    _done({"added": name, "role": role}, as_json, f"added {role} [bold]{name}[/bold]: log in at the console")


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
    _done({"changed": name, "role": role}, as_json, f"changed the password of [bold]{name}[/bold]")


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
    _done({"removed": name}, as_json, f"removed [bold]{name}[/bold]")


@app.command("list")
def list_users(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Every user and their role."""

    async def work() -> list[dict[str, str]]:
        store, users = await _users(config)
        try:
            return [
                {"name": u.username, "role": u.role, "created_at": u.created_at.isoformat()} for u in await users.list()
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
    table = new_table("name", "role", "since")
    for row in found:
        table.add_row(row["name"], row["role"], row["created_at"][:19])
    console.print(table)
