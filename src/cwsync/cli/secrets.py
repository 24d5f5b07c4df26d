"""`cwsync secrets set | list | remove | rotate-key`: credentials encrypted at rest in the store (CW-7).

A configuration value `${secret:NAME}` (e.g. `private_key: ${secret:connectwise.private_key}`) is decrypted from the
store when the clients are opened. Values are asked for hidden on the terminal (or read from standard input with
`--stdin`), never taken as an argument, and never printed: `list` shows names and when each was set. The key is
`CWSYNC_SECRET_KEY` or a key file made on first use (mode 0600; `<the SQLite file>.key`, or `CWSYNC_SECRET_KEY_FILE`).
Exit codes: 0 done, 1 not found / the store or key cannot be read, 2 a bad name or configuration.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cwsync.cli.output import console, done, fail, new_table
from cwsync.cli.sync import CONFIG, JSON, load, run_async

if TYPE_CHECKING:
    from cwsync.store import Store
    from cwsync.store.secrets import SecretStore

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Secrets encrypted at rest: set, list (names), remove, rotate the key.")


async def _vault(config: Path) -> tuple[Store, SecretStore, str]:
    from cwsync.store import Store
    from cwsync.store.secrets import KeyRing, SecretStore, key_file_for

    cfg = load(config)
    store = await Store.open(cfg.store)
    return store, SecretStore(store, KeyRing.load(key_file_for(cfg.store))), cfg.tenant


def _key_failure(exc: Exception) -> None:
    fail(1, str(exc), fix="restore the key file (or CWSYNC_SECRET_KEY) that sealed the secrets", kind="SecretKeyError")


@app.command("set")
def set_secret(
    name: str = typer.Argument(..., help="The secret's name, e.g. connectwise.private_key."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the value from standard input (one line)."),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Store (or replace) a secret: the value is asked for, hidden."""
    from cwsync.integrations.root import SECRET_REF
    from cwsync.store.secrets import SecretKeyError

    if not SECRET_REF.match(f"${{secret:{name}}}"):
        fail(2, f"{name!r}: a secret's name is letters, digits, '.', '_' and '-' (up to 128)")
    value = sys.stdin.readline().rstrip("\r\n") if stdin else typer.prompt("Value", hide_input=True)
    if not value:
        fail(2, "the value is empty")

    async def work() -> None:
        store, vault, tenant = await _vault(config)
        try:
            await vault.put(tenant, name, value)
        finally:
            await store.close()

    try:
        run_async(work)
    except SecretKeyError as exc:
        _key_failure(exc)
    done(
        {"stored": name}, as_json, f"stored {name} (encrypted); refer to it in the configuration as ${{secret:{name}}}"
    )


@app.command("list")
def list_secrets(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """The stored secrets' names and when each was set (never their values)."""

    async def work() -> dict[str, str]:
        store, vault, tenant = await _vault(config)
        try:
            return {name: when.isoformat() for name, when in sorted((await vault.names(tenant)).items())}
        finally:
            await store.close()

    found = run_async(work)
    if as_json:
        print(json.dumps(found, indent=2))
        return
    if not found:
        console.print("no stored secrets")
        return
    table = new_table("name", "set at")
    for name, when in found.items():
        table.add_row(name, when[:19])
    console.print(table)


@app.command()
def remove(
    name: str = typer.Argument(..., help="The secret to forget."), config: Path = CONFIG, as_json: bool = JSON
) -> None:
    """Forget a stored secret."""

    async def work() -> bool:
        store, vault, tenant = await _vault(config)
        try:
            return await vault.remove(tenant, name)
        finally:
            await store.close()

    if not run_async(work):
        fail(1, f"no stored secret named {name!r}", fix="`cwsync secrets list` shows them")
    done({"removed": name}, as_json, f"removed {name}")


@app.command("rotate-key")
def rotate_key(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Re-encrypt every secret with a new key (the key file is updated; crash-safe). With CWSYNC_SECRET_KEY, give
    the new key in CWSYNC_NEW_SECRET_KEY and set CWSYNC_SECRET_KEY to it afterwards."""
    from cwsync.store.secrets import ENV_KEY, SecretKeyError, _decode

    async def work() -> tuple[int, str]:
        store, vault, _ = await _vault(config)
        try:
            new = None
            if vault.keys.path is None:
                given = os.environ.get("CWSYNC_NEW_SECRET_KEY", "")
                if not given:
                    fail(2, f"the key comes from {ENV_KEY}: put the new key in CWSYNC_NEW_SECRET_KEY first")
                new = _decode(given, "CWSYNC_NEW_SECRET_KEY")
            count = await vault.rotate(new)
            return count, str(vault.keys.path or ENV_KEY)
        finally:
            await store.close()

    try:
        count, where = run_async(work)
    except SecretKeyError as exc:
        _key_failure(exc)
    done({"reencrypted": count, "key": where}, as_json, f"re-encrypted {count} secret(s) with a new key ({where})")
