"""Saved versions of the configuration file (migration `0009_config_versions`): listed, compared, rolled back.

Every save the console makes keeps the file's whole text as a version, with who saved it and what changed, so any
earlier version can be shown, diffed against another and written back. A version is identified by its number; the
text's SHA-256 lets a save that changed nothing keep the latest version instead of adding a copy.

::

    versions = ConfigVersions(store, tenant="default")
    number = await versions.add(path="/etc/cwsync.yaml", text=text, author="ann", summary="set deals.direction")
    await versions.list()               # newest first, without the text
    await versions.get(number)          # with the text
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Index, String, Table, Text, desc, func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, mapped_column

from cwsync.store.models import Base, BigIntId
from cwsync.store.store import Store

__all__ = ["CONFIG_VERSIONS", "ConfigVersion", "ConfigVersionRow", "ConfigVersions"]


class ConfigVersionRow(Base):
    """One saved text of the configuration file."""

    __tablename__ = "config_versions"
    __table_args__ = (Index("ix_config_versions_tenant_id", "tenant", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


CONFIG_VERSIONS: Table = ConfigVersionRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ConfigVersion:
    """A saved version; `text` is empty in listings (`ConfigVersions.get` reads it)."""

    number: int
    path: str
    sha256: str
    kind: str
    """`original` (the file before the first save), `edit`, or `rollback`."""
    author: str
    summary: str
    created_at: datetime
    text: str = ""


class ConfigVersions:
    """The versions of one tenant's configuration file."""

    def __init__(self, store: Store, *, tenant: str) -> None:
        self._store = store
        self.tenant = tenant

    async def add(self, *, path: str, text: str, author: str, summary: str, kind: str = "edit") -> int:
        """Keep `text` as the newest version and return its number; the same text as the newest version already
        is returns that version (a save that changed nothing, or a retried one, adds no copy)."""
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        table = CONFIG_VERSIONS
        newest = (
            select(table.c.id, table.c.sha256).where(table.c.tenant == self.tenant).order_by(desc(table.c.id)).limit(1)
        )
        async with self._store._connect(write=True) as conn, conn.begin():
            found = (await conn.execute(newest)).first()
            if found is not None and found.sha256 == digest:
                return int(found.id)
            values = {
                "tenant": self.tenant,
                "path": path,
                "sha256": digest,
                "text": text,
                "kind": kind,
                "author": author[:128],
                "summary": summary,
                "created_at": datetime.now(UTC),
            }
            result = await conn.execute(insert(table).values(**values).returning(table.c.id))
            return int(result.scalar_one())

    async def list(self, *, limit: int = 50, offset: int = 0) -> list[ConfigVersion]:
        """Versions newest first (without their text)."""
        table = CONFIG_VERSIONS
        columns = [c for c in table.c if c.name != "text"]
        query = (
            select(*columns).where(table.c.tenant == self.tenant).order_by(desc(table.c.id)).limit(limit).offset(offset)
        )
        async with self._store._connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_version(row, "") for row in rows]

    async def count(self) -> int:
        """How many versions are kept."""
        table = CONFIG_VERSIONS
        async with self._store._connect() as conn:
            found = await conn.execute(select(func.count()).select_from(table).where(table.c.tenant == self.tenant))
            return int(found.scalar_one())

    async def get(self, number: int) -> ConfigVersion | None:
        """Version `number` with its text (None: no such version of this tenant)."""
        table = CONFIG_VERSIONS
        query = select(table).where(table.c.tenant == self.tenant, table.c.id == number)
        async with self._store._connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _version(row, str(row.text))

    async def latest(self) -> ConfigVersion | None:
        """The newest version with its text, if any."""
        newest = await self.list(limit=1)
        return await self.get(newest[0].number) if newest else None


def _version(row: Row[Any], text: str) -> ConfigVersion:
    return ConfigVersion(
        number=int(row.id),
        path=str(row.path),
        sha256=str(row.sha256),
        kind=str(row.kind),
        author=str(row.author),
        summary=str(row.summary),
        created_at=row.created_at,
        text=text,
    )
