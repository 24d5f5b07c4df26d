"""Secrets encrypted at rest (CW-7): credentials the console takes, sealed with AES-256-GCM in the `secrets` table.

::

    keys = KeyRing.load(key_file_for(config.store))         # CWSYNC_SECRET_KEY, or a key file made on first use
    vault = SecretStore(store, keys)
    await vault.put("default", "connectwise.private_key", "…")   # write-only from the outside
    await vault.names("default")                                # {"connectwise.private_key": <updated_at>}
    value = await vault.get("default", "connectwise.private_key")   # only the composition root asks for this

**The key.** `CWSYNC_SECRET_KEY` (32 bytes, URL-safe base64: `python -c "import base64,os;
print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`) when set; otherwise a key file, created on first use
with mode 0600: `CWSYNC_SECRET_KEY_FILE`, or `<the SQLite file>.key` beside an SQLite store, or `cwsync.key` in the
working folder for PostgreSQL. Each ciphertext names the id of the key that sealed it (the first 8 hex digits of
the key's SHA-256), and the tenant and name are bound to it as associated data, so a row copied to another name
does not decrypt.

**Rotation** (`cwsync secrets rotate-key`): a new key is added to the key file first (the file then holds both),
every secret is re-sealed with it in one transaction, and only then is the old key dropped from the file — a crash
at any point leaves every secret readable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.engine import make_url

from cwsync.store.console_tables import SECRETS
from cwsync.store.store import Store

__all__ = [
    "ENV_KEY",
    "ENV_KEY_FILE",
    "KeyRing",
    "SecretKeyError",
    "SecretStore",
    "key_file_for",
    "new_key",
]

ENV_KEY = "CWSYNC_SECRET_KEY"
ENV_KEY_FILE = "CWSYNC_SECRET_KEY_FILE"
_NONCE = 12


class SecretKeyError(Exception):
    """The key is missing, malformed, or not the one that sealed a secret (says what to do)."""


def new_key() -> bytes:
    """A fresh 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii") + b"=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SecretKeyError(f"{where}: not URL-safe base64") from None
    if len(key) != 32:
        raise SecretKeyError(f"{where}: a key is 32 bytes (44 characters of URL-safe base64), not {len(key)}")
    return key


def _encode(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def key_file_for(store_url: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where the key file of a store lives: `CWSYNC_SECRET_KEY_FILE`, beside an SQLite file, or ./cwsync.key."""
    env = os.environ if environ is None else environ
    if env.get(ENV_KEY_FILE):
        return Path(env[ENV_KEY_FILE]).expanduser()
    try:
        url = make_url(store_url)
    except Exception:  # a URL the store would refuse anyway: fall back to the working folder
        return Path("cwsync.key")
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database + ".key")
    return Path("cwsync.key")


@dataclass
class KeyRing:
    """The keys that open secrets: the first seals new ones; older ones (mid-rotation) still open theirs."""

    keys: list[bytes]
    path: Path | None = None
    """The key file (None: the key came from `CWSYNC_SECRET_KEY`)."""

    @classmethod
    def load(cls, path: Path, environ: Mapping[str, str] | None = None, *, create: bool = True) -> KeyRing:
        """The key from `CWSYNC_SECRET_KEY`, else the key file at `path` (created, 0600, when missing and `create`)."""
        env = os.environ if environ is None else environ
        if env.get(ENV_KEY):
            return cls([_decode(env[ENV_KEY], ENV_KEY)])
        if not path.exists():
            if not create:
                raise SecretKeyError(f"no key file at {path} (and {ENV_KEY} is not set)")
            ring = cls([new_key()], path)
            ring.save()
            return ring
        try:
            lines = [line for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretKeyError(f"cannot read the key file {path}: {exc}") from None
        if not lines:
            raise SecretKeyError(f"the key file {path} is empty: restore it from a backup")
        return cls([_decode(line, f"{path}:{n}") for n, line in enumerate(lines, 1)], path)

    @property
    def primary_id(self) -> str:
        """The id of the key new secrets are sealed with."""
        return _key_id(self.keys[0])

    def save(self) -> None:
        """Write the key file atomically with mode 0600 (never for a key from the environment)."""
        if self.path is None:
            raise SecretKeyError(f"the key comes from {ENV_KEY}: there is no key file to write")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".cwsync-key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write("".join(_encode(k) + "\n" for k in self.keys))
                file.flush()
                os.fsync(file.fileno())
            os.replace(name, self.path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def seal(self, plaintext: str, aad: bytes) -> tuple[str, bytes]:
        """The primary key's id and nonce + ciphertext of `plaintext`."""
        nonce = os.urandom(_NONCE)
        return self.primary_id, nonce + AESGCM(self.keys[0]).encrypt(nonce, plaintext.encode("utf-8"), aad)

    def open(self, key_id: str, blob: bytes, aad: bytes) -> str:
        """The plaintext of a sealed secret; SecretKeyError when no key of the ring sealed it."""
        for key in self.keys:
            if _key_id(key) == key_id:
                try:
                    return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad).decode("utf-8")
                except InvalidTag:
                    break
        where = f"the key file {self.path}" if self.path else ENV_KEY
        raise SecretKeyError(f"a secret was sealed by key {key_id}, which {where} does not hold (restore the key)")


def _aad(tenant: str, name: str) -> bytes:
    return f"cwsync-secret:{tenant}:{name}".encode()


class SecretStore:
    """Write-only credentials: the console and CLI put and list them; only the composition root reads them."""

    def __init__(self, store: Store, keys: KeyRing) -> None:
        self.store = store
        self.keys = keys

    async def put(self, tenant: str, name: str, value: str) -> None:
        """Store (or replace) a secret, sealed."""
        if not name or len(name) > 128:
            raise ValueError("a secret's name is 1 to 128 characters")
        key_id, blob = self.keys.seal(value, _aad(tenant, name))
        now = datetime.now(UTC)
        async with self.store._connect(write=True) as conn, conn.begin():
            where = (SECRETS.c.tenant == tenant) & (SECRETS.c.name == name)
            changed = await conn.execute(
                update(SECRETS).where(where).values(key_id=key_id, ciphertext=blob, updated_at=now)
            )
            if changed.rowcount == 0:
                values = {"tenant": tenant, "name": name, "key_id": key_id, "ciphertext": blob, "updated_at": now}
                await conn.execute(SECRETS.insert().values(**values))

    async def names(self, tenant: str) -> dict[str, datetime]:
        """The names of the tenant's secrets and when each was set (never their values)."""
        async with self.store._connect() as conn:
            rows = (
                await conn.execute(select(SECRETS.c.name, SECRETS.c.updated_at).where(SECRETS.c.tenant == tenant))
            ).all()
        return {row.name: row.updated_at for row in rows}

    async def get(self, tenant: str, name: str) -> str | None:
        """The plaintext of a secret (None when not set): for opening clients, never for showing."""
        async with self.store._connect() as conn:
            statement = select(SECRETS.c.key_id, SECRETS.c.ciphertext).where(
                SECRETS.c.tenant == tenant, SECRETS.c.name == name
            )
            row = (await conn.execute(statement)).first()
        return None if row is None else self.keys.open(row.key_id, bytes(row.ciphertext), _aad(tenant, name))

    async def remove(self, tenant: str, name: str) -> bool:
        """Forget a secret; False when it was not set."""
        async with self.store._connect(write=True) as conn, conn.begin():
            result = await conn.execute(delete(SECRETS).where(SECRETS.c.tenant == tenant, SECRETS.c.name == name))
            return bool(result.rowcount)

    async def rotate(self, new: bytes | None = None) -> int:
        """Re-seal every secret with a new key (see the module's docstring); returns how many were re-sealed.

        With a key file, the new key is added to it first and the old ones dropped at the end. With
        `CWSYNC_SECRET_KEY`, pass `new` (the next value of the variable) and set the variable to it afterwards.
        """
        key = new or new_key()
        if self.keys.path is not None:
            self.keys.keys.insert(0, key)
            self.keys.save()
        else:
            self.keys.keys.insert(0, key)
        count = 0
        async with self.store._connect(write=True) as conn, conn.begin():
            rows = (await conn.execute(select(SECRETS))).all()
            for row in rows:
                aad = _aad(row.tenant, row.name)
                plain = self.keys.open(row.key_id, bytes(row.ciphertext), aad)
                key_id, blob = self.keys.seal(plain, aad)
                await conn.execute(update(SECRETS).where(SECRETS.c.id == row.id).values(key_id=key_id, ciphertext=blob))
                count += 1
        self.keys.keys = [key]
        if self.keys.path is not None:
            self.keys.save()
        return count
