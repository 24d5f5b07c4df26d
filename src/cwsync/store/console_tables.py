"""The console's tables, declared on the store's `Base` (migrations `0008_console`, `0011_user_tenants`): users, the
tenants each may see, sessions, secrets.

`cwsync.store` imports this module, so the tables are in `Base.metadata` whenever the store is loaded (the
"models describe the migrated schema" check compares them). `users.py` and `secrets.py` read and write them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Table, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from cwsync.store.models import Base, BigIntId, RunItemRow

__all__ = [
    "CONSOLE_SESSIONS",
    "CONSOLE_USERS",
    "CONSOLE_USER_TENANTS",
    "SECRETS",
    "ConsoleSessionRow",
    "ConsoleUserRow",
    "ConsoleUserTenantRow",
    "SecretRow",
]


class ConsoleUserRow(Base):
    """A person who may log in to the web console: an argon2 hash of the password, never the password."""

    __tablename__ = "console_users"
    __table_args__ = (UniqueConstraint("username", name="uq_console_users_username"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    all_tenants: Mapped[bool] = mapped_column(server_default=true())
    """May see every tenant of the deployment (users from before 0011 do); else those of `console_user_tenants`."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConsoleUserTenantRow(Base):
    """A tenant a user who does not see every tenant may see (a tenants directory's console)."""

    __tablename__ = "console_user_tenants"

    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("console_users.id", ondelete="CASCADE"), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)


class ConsoleSessionRow(Base):
    """A logged-in browser: the SHA-256 of its cookie's token (the token itself is only in the cookie)."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("console_users.id", ondelete="CASCADE"))
    tenant: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SecretRow(Base):
    """A credential encrypted at rest (AES-GCM, `secrets.py`): ciphertext and the id of the key that sealed it."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_secrets_tenant_name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


CONSOLE_USERS: Table = ConsoleUserRow.__table__  # type: ignore[assignment]
CONSOLE_USER_TENANTS: Table = ConsoleUserTenantRow.__table__  # type: ignore[assignment]
CONSOLE_SESSIONS: Table = ConsoleSessionRow.__table__  # type: ignore[assignment]
SECRETS: Table = SecretRow.__table__  # type: ignore[assignment]

# What the console's "failing now" reads: a tenant's failed items, newest first (`console_queries.failing_now`).
Index(
    "ix_run_items_tenant_status_id",
    RunItemRow.__table__.c.tenant,
    RunItemRow.__table__.c.status,
    RunItemRow.__table__.c.id,
)
