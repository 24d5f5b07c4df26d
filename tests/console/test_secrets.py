"""Secrets at rest (CW-7): AES-GCM in the store, the key file (0600), rotation, `${secret:NAME}` resolution, and the
`cwsync secrets` and `cwsync users` commands (values prompted, never arguments, never printed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.config import ConfigError, load_config
from cwsync.integrations.root import resolve_secrets
from cwsync.store import Store
from cwsync.store.secrets import KeyRing, SecretKeyError, SecretStore, key_file_for, new_key

runner = CliRunner()
VALUE = "s3cret-value-for-the-vault"


async def test_sealed_bound_and_rotated(tmp_path: Path) -> None:
    """The store holds ciphertext bound to tenant and name; rotation re-seals with a new key and drops the old."""
    url = f"sqlite:///{tmp_path / 'v.db'}"
    keyfile = key_file_for(url, {})
    assert keyfile == tmp_path / "v.db.key"
    ring = KeyRing.load(keyfile, {})
    assert keyfile.stat().st_mode & 0o777 == 0o600
    store = await Store.open(url)
    try:
        vault = SecretStore(store, ring)
        await vault.put("default", "hubspot.token", VALUE)
        assert await vault.get("default", "hubspot.token") == VALUE
        assert list(await vault.names("default")) == ["hubspot.token"]
        raw = (tmp_path / "v.db").read_bytes() + (
            (tmp_path / "v.db-wal").read_bytes() if (tmp_path / "v.db-wal").exists() else b""
        )
        assert VALUE.encode() not in raw
        with sqlite3.connect(tmp_path / "v.db") as db:  # a row moved to another name does not open
            db.execute("UPDATE secrets SET name = 'hudu.api_key'")
        with pytest.raises(SecretKeyError):
            await vault.get("default", "hudu.api_key")
        with sqlite3.connect(tmp_path / "v.db") as db:
            db.execute("UPDATE secrets SET name = 'hubspot.token'")
        old = ring.primary_id
        assert await vault.rotate() == 1
        assert ring.primary_id != old
        reread = KeyRing.load(keyfile, {})
        assert [reread.primary_id] == [ring.primary_id]  # the old key is gone from the file
        assert await SecretStore(store, reread).get("default", "hubspot.token") == VALUE
        with pytest.raises(SecretKeyError):  # a different key cannot open it
            await SecretStore(store, KeyRing([new_key()])).get("default", "hubspot.token")
    finally:
        await store.close()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "cwsync.yaml"
    path.write_text(
        "store: sqlite:///c.db\n"
        "connections:\n"
        "  connectwise:\n"
        "    site: na.myconnectwise.net\n"
        "    company_id: acme\n"
        "    public_key: pub\n"
        "    private_key: ${secret:connectwise.private_key}   # stored encrypted\n"
        "    client_id: 3f2c1b6e-0d4a-4c8e-9b1f-5a7d2e8c0f11\n",
        encoding="utf-8",
    )
    return path


async def test_secret_reference_resolved_or_named(tmp_path: Path) -> None:
    """`${secret:NAME}` opens as the stored value; not set, it is a ConfigError naming the field and the fix."""
    config = load_config(_config(tmp_path))
    store = await Store.open(config.store)
    try:
        with pytest.raises(ConfigError, match=r"connections\.connectwise\.private_key.*cwsync secrets set"):
            await resolve_secrets(config, store, keys=KeyRing([new_key()]))
        ring = KeyRing.load(key_file_for(config.store))
        await SecretStore(store, ring).put("default", "connectwise.private_key", VALUE)
        resolved = await resolve_secrets(config, store)
        assert resolved.connections.connectwise.private_key.get_secret_value() == VALUE
        assert VALUE not in repr(resolved)
        with pytest.raises(ConfigError, match="does not hold"):  # sealed by another key: refused, named
            await resolve_secrets(config, store, keys=KeyRing([new_key()]))
    finally:
        await store.close()


def test_cli_secrets_and_users_prompt_hidden_and_never_print(tmp_path: Path) -> None:
    """`cwsync secrets set` asks for the value (hidden) and `list` shows only names; `users add` asks for the
    password; neither shows what was typed; rotate-key keeps the secret readable."""
    path = str(_config(tmp_path))
    made = runner.invoke(app, ["secrets", "set", "connectwise.private_key", "-c", path], input=f"{VALUE}\n")
    assert made.exit_code == 0, made.stdout
    assert VALUE not in made.stdout
    listed = runner.invoke(app, ["secrets", "list", "-c", path, "--json"])
    assert "connectwise.private_key" in listed.stdout
    assert VALUE not in listed.stdout
    assert runner.invoke(app, ["secrets", "rotate-key", "-c", path]).exit_code == 0
    password = "a long enough password"
    added = runner.invoke(
        app, ["users", "add", "ann", "--role", "admin", "-c", path], input=f"{password}\n{password}\n"
    )
    assert added.exit_code == 0, added.stdout
    assert password not in added.stdout
    again = runner.invoke(app, ["users", "add", "ann", "-c", path], input=f"{password}\n{password}\n")
    assert again.exit_code == 1
    short = runner.invoke(app, ["users", "add", "bob", "-c", path], input="short\nshort\n")
    assert short.exit_code == 2
    users = runner.invoke(app, ["users", "list", "-c", path, "--json"])
    assert '"ann"' in users.stdout
    assert '"admin"' in users.stdout
    assert (
        runner.invoke(
            app, ["users", "passwd", "ann", "--password-stdin", "-c", path], input="another long one\n"
        ).exit_code
        == 0
    )
    assert runner.invoke(app, ["users", "remove", "ann", "-c", path]).exit_code == 0
    assert runner.invoke(app, ["users", "remove", "ann", "-c", path]).exit_code == 1
    assert runner.invoke(app, ["secrets", "remove", "connectwise.private_key", "-c", path]).exit_code == 0
