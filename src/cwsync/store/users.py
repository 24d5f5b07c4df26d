"""The web console's users and sessions (issue 14): argon2id password hashes, server-side sessions.

::

    users = UserStore(store)
    await users.add("ann", "a long passphrase", role="admin")     # UserExistsError when taken
    user = await users.verify("ann", "a long passphrase")          # None when unknown or wrong
    token, session = await users.open_session(user, tenant="default")   # token goes in the cookie, never stored
    session = await users.session(token)                            # None when unknown, expired, or user removed
    await users.add("bob", "another passphrase", tenants=["acme"])  # sees tenant acme only (None: every tenant)
    await users.grant("bob", ["globex"]); await users.revoke("bob", ["acme"])

A session row is keyed by the SHA-256 of its token, so the table alone cannot be replayed as a cookie; it holds the
session's CSRF token and tenant. Removing a user or changing the password ends every session of theirs.

**Tenant access.** A user sees every tenant of the deployment (`all_tenants`, what users from before migration 0011
have) or the tenants of `console_user_tenants`; the set is read with each session, so a grant or a revoke applies
to the user's next request. A single configuration file's console has one tenant and does not look at it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cwsync.store.console_tables import CONSOLE_SESSIONS, CONSOLE_USER_TENANTS, CONSOLE_USERS
from cwsync.store.store import Store

__all__ = [
    "ROLES",
    "ConsoleSession",
    "ConsoleUser",
    "Role",
    "UserExistsError",
    "UserNotFoundError",
    "UserStore",
    "check_password",
    "check_tenant",
    "check_username",
]

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)
SESSION_HOURS = 12
MIN_PASSWORD = 10
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY = _HASHER.hash("not a password of anyone")  # verified against for unknown users: same time either way
_TENANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # what a configuration's `tenant:` may be


class UserExistsError(ValueError):
    """A user with this name exists already."""


class UserNotFoundError(LookupError):
    """No user has this name."""


@dataclass(frozen=True)
class ConsoleUser:
    """A user of the console (no hash: it stays in the store)."""

    user_id: int
    username: str
    role: Role
    created_at: datetime
    tenants: frozenset[str] | None = None
    """The tenants this user may see; None: every tenant of the deployment."""

    @property
    def can_edit(self) -> bool:
        """Admins edit; viewers only read."""
        return self.role == "admin"

    def may_see(self, tenant: str) -> bool:
        """Whether this user may see `tenant` (any page, API call or save of the console for it)."""
        return self.tenants is None or tenant in self.tenants

    def visible(self, tenants: Iterable[str]) -> list[str]:
        """Those of `tenants` this user may see, in their order."""
        return [t for t in tenants if self.may_see(t)]


@dataclass(frozen=True)
class ConsoleSession:
    """A logged-in browser."""

    session_id: str
    user: ConsoleUser
    tenant: str
    csrf: str
    expires_at: datetime


def check_username(name: str) -> str:
    """`name` stripped, or ValueError saying what a user name may be."""
    name = name.strip()
    if not (1 <= len(name) <= 64) or any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError("a user name is 1 to 64 printable characters without spaces")
    return name


def check_password(password: str) -> str:
    """`password`, or ValueError when it is too short."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def check_tenant(name: str) -> str:
    """`name`, or ValueError saying what a tenant name may be (as a configuration's `tenant:`)."""
    if not _TENANT.match(name):
        raise ValueError(f"{name!r} is no tenant name: 1 to 64 letters, digits, '_', '.' or '-'")
    return name


def _tenants(tenants: Iterable[str] | None) -> list[str] | None:
    return None if tenants is None else sorted({check_tenant(t) for t in tenants})


def _role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use {' or '.join(ROLES)}")
    return role


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class UserStore:
    """Users and sessions of the console, in the store's `console_users` and `console_sessions` tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def count(self) -> int:
        """How many users exist (none: the console asks for the first one to be added)."""
        async with self.store._connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(CONSOLE_USERS))).scalar_one())

    async def list(self) -> list[ConsoleUser]:
        """Every user, by name."""
        async with self.store._connect() as conn:
            rows = (await conn.execute(select(CONSOLE_USERS).order_by(CONSOLE_USERS.c.username))).all()
            granted = (await conn.execute(select(CONSOLE_USER_TENANTS))).all()
        seen: dict[int, set[str]] = {}
        for grant in granted:
            seen.setdefault(grant.user_id, set()).add(grant.tenant)
        return [
            ConsoleUser(
                r.id, r.username, r.role, r.created_at, None if r.all_tenants else frozenset(seen.get(r.id, ()))
            )
            for r in rows
        ]

    async def add(
        self, username: str, password: str, *, role: str = "viewer", tenants: Iterable[str] | None = None
    ) -> ConsoleUser:
        """Add a user who sees `tenants` (None: every tenant); UserExistsError when the name is taken, ValueError
        for a bad name, password, role or tenant name."""
        username, role, granted = check_username(username), _role(role), _tenants(tenants)
        hashed = _HASHER.hash(check_password(password))
        now = _now()
        async with self.store._connect(write=True) as conn, conn.begin():
            taken = await conn.execute(select(CONSOLE_USERS.c.id).where(CONSOLE_USERS.c.username == username))
            if taken.first() is not None:
                raise UserExistsError(f"a user named {username!r} exists already")
            values = {"username": username, "password_hash": hashed, "role": role, "created_at": now}
            result = await conn.execute(
                insert(CONSOLE_USERS).values(**values, all_tenants=granted is None, updated_at=now)
            )
            user_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if granted:
                await conn.execute(insert(CONSOLE_USER_TENANTS), [{"user_id": user_id, "tenant": t} for t in granted])
        return ConsoleUser(user_id, username, role, now, None if granted is None else frozenset(granted))

    async def grant(self, username: str, tenants: Iterable[str] | None) -> ConsoleUser:
        """Let a user see `tenants` too (None: every tenant, now and to come); UserNotFoundError when unknown."""
        granted = _tenants(tenants)
        async with self.store._connect(write=True) as conn, conn.begin():
            user_id = await self._user_id(conn, username)
            if granted is None:
                await conn.execute(delete(CONSOLE_USER_TENANTS).where(CONSOLE_USER_TENANTS.c.user_id == user_id))
                await conn.execute(update(CONSOLE_USERS).where(CONSOLE_USERS.c.id == user_id).values(all_tenants=True))
            else:
                have = await self._granted(conn, user_id)
                new = [{"user_id": user_id, "tenant": t} for t in granted if t not in have]
                if new:
                    await conn.execute(insert(CONSOLE_USER_TENANTS), new)
        return await self.user(username)

    async def revoke(self, username: str, tenants: Iterable[str] | None) -> ConsoleUser:
        """Stop a user seeing `tenants` (None: any tenant); ValueError when the user sees every tenant and only
        some are revoked (grant the ones they keep first: `revoke` of every tenant, then `grant`)."""
        revoked = _tenants(tenants)
        async with self.store._connect(write=True) as conn, conn.begin():
            user_id = await self._user_id(conn, username)
            rows = CONSOLE_USER_TENANTS.c.user_id == user_id
            if revoked is None:
                await conn.execute(delete(CONSOLE_USER_TENANTS).where(rows))
                await conn.execute(update(CONSOLE_USERS).where(CONSOLE_USERS.c.id == user_id).values(all_tenants=False))
            else:
                every = await conn.execute(select(CONSOLE_USERS.c.all_tenants).where(CONSOLE_USERS.c.id == user_id))
                if every.scalar_one():
                    raise ValueError(
                        f"{username!r} sees every tenant: revoke them all (--all-tenants), then grant those to keep"
                    )
                await conn.execute(delete(CONSOLE_USER_TENANTS).where(rows, CONSOLE_USER_TENANTS.c.tenant.in_(revoked)))
        return await self.user(username)

    async def user(self, username: str) -> ConsoleUser:
        """One user (with the tenants they see); UserNotFoundError when unknown."""
        async with self.store._connect() as conn:
            row = (await conn.execute(select(CONSOLE_USERS).where(CONSOLE_USERS.c.username == username))).first()
            if row is None:
                raise UserNotFoundError(f"no user named {username!r}")
            tenants = None if row.all_tenants else frozenset(await self._granted(conn, row.id))
        return ConsoleUser(row.id, row.username, row.role, row.created_at, tenants)

    @staticmethod
    async def _user_id(conn: AsyncConnection, username: str) -> int:
        found = (await conn.execute(select(CONSOLE_USERS.c.id).where(CONSOLE_USERS.c.username == username))).first()
        if found is None:
            raise UserNotFoundError(f"no user named {username!r}")
        return int(found.id)

    @staticmethod
    async def _granted(conn: AsyncConnection, user_id: int) -> set[str]:
        statement = select(CONSOLE_USER_TENANTS.c.tenant).where(CONSOLE_USER_TENANTS.c.user_id == user_id)
        return set((await conn.execute(statement)).scalars())

    async def set_password(self, username: str, password: str) -> None:
        """Change a password (ends the user's sessions); UserNotFoundError when unknown."""
        hashed = _HASHER.hash(check_password(password))
        await self._update(username, password_hash=hashed)

    async def set_role(self, username: str, role: str) -> None:
        """Change a role (ends the user's sessions)."""
        await self._update(username, role=_role(role))

    async def _update(self, username: str, **values: str) -> None:
        async with self.store._connect(write=True) as conn, conn.begin():
            found = await conn.execute(select(CONSOLE_USERS.c.id).where(CONSOLE_USERS.c.username == username))
            row = found.first()
            if row is None:
                raise UserNotFoundError(f"no user named {username!r}")
            await conn.execute(
                update(CONSOLE_USERS).where(CONSOLE_USERS.c.id == row.id).values(**values, updated_at=_now())
            )
            await conn.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.user_id == row.id))

    async def remove(self, username: str) -> None:
        """Remove a user and their sessions; UserNotFoundError when unknown."""
        async with self.store._connect(write=True) as conn, conn.begin():
            found = (await conn.execute(select(CONSOLE_USERS.c.id).where(CONSOLE_USERS.c.username == username))).first()
            if found is None:
                raise UserNotFoundError(f"no user named {username!r}")
            await conn.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.user_id == found.id))
            await conn.execute(delete(CONSOLE_USERS).where(CONSOLE_USERS.c.id == found.id))

    async def verify(self, username: str, password: str) -> ConsoleUser | None:
        """The user when the password is theirs, else None (an unknown name costs the same hash check)."""
        async with self.store._connect() as conn:
            row = (await conn.execute(select(CONSOLE_USERS).where(CONSOLE_USERS.c.username == username))).first()
        try:
            _HASHER.verify(row.password_hash if row is not None else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        return await self.user(row.username)

    async def open_session(self, user: ConsoleUser, *, tenant: str) -> tuple[str, ConsoleSession]:
        """A new session: its token (for the cookie only) and the session."""
        token = secrets.token_urlsafe(32)
        now = _now()
        session = ConsoleSession(
            _digest(token), user, tenant, secrets.token_urlsafe(32), now + timedelta(hours=SESSION_HOURS)
        )
        async with self.store._connect(write=True) as conn, conn.begin():
            await conn.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.expires_at < now))
            await conn.execute(
                insert(CONSOLE_SESSIONS).values(
                    id=session.session_id,
                    user_id=user.user_id,
                    tenant=tenant,
                    csrf=session.csrf,
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    async def session(self, token: str) -> ConsoleSession | None:
        """The live session of a cookie's token, or None."""
        if not token or len(token) > 128:
            return None
        joined = CONSOLE_SESSIONS.join(CONSOLE_USERS, CONSOLE_USERS.c.id == CONSOLE_SESSIONS.c.user_id)
        statement = (
            select(
                CONSOLE_SESSIONS,
                CONSOLE_USERS.c.username,
                CONSOLE_USERS.c.role,
                CONSOLE_USERS.c.all_tenants,
                CONSOLE_USERS.c.created_at.label("since"),
            )
            .select_from(joined)
            .where(CONSOLE_SESSIONS.c.id == _digest(token))
        )
        async with self.store._connect() as conn:
            row = (await conn.execute(statement)).first()
            if row is None or row.expires_at <= _now():
                return None
            tenants = None if row.all_tenants else frozenset(await self._granted(conn, row.user_id))
        user = ConsoleUser(row.user_id, row.username, row.role, row.since, tenants)
        return ConsoleSession(row.id, user, row.tenant, row.csrf, row.expires_at)

    async def set_tenant(self, session: ConsoleSession, tenant: str) -> None:
        """Switch the tenant a session looks at."""
        async with self.store._connect(write=True) as conn, conn.begin():
            statement = update(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.id == session.session_id)
            await conn.execute(statement.values(tenant=tenant))

    async def close_session(self, token: str) -> None:
        """Log out: forget the session."""
        async with self.store._connect(write=True) as conn, conn.begin():
            await conn.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.id == _digest(token)))
