"""The console's one way to change the configuration: validate, save atomically, keep the version (#14, PL-1).

`ConfigEditor.save(changes)` reads the file, applies the changes (`cwsync.config.edit`), validates the result with
the CLI's loader and then with the checks the CLI runs before a sync (`checks`: the mappings, the HubSpot schemas),
writes the file atomically and keeps its text in the store (`cwsync.store.config_versions`). The file's text from
before the console's first save is kept too (kind `original`), and so is any text found on disk that is not the
newest version (edited by hand, or a save whose version was not recorded because the process died in between), so
every state the file was in is a version to compare and roll back to.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cwsync.config import Config, ConfigError
from cwsync.config.edit import Change, ConfigDocument, EditedConfig, effect_of, problems_in
from cwsync.store import Store
from cwsync.store.config_versions import ConfigVersion, ConfigVersions

__all__ = ["Check", "ConfigEditor", "Preview", "SaveResult"]

Check = Callable[[Config], Awaitable[list[tuple[tuple[Any, ...], str]]]]
"""A check after the model's: problems as (path into the configuration, message); none when all is well. A check
with a `scope` attribute (a path prefix) runs only for edits under it (and for roll-backs)."""


@dataclass(frozen=True)
class Preview:
    """An edit validated but not saved: the new text, its diff, and the problems (none: it may be saved)."""

    edited: EditedConfig
    error: ConfigError | None
    config: Config | None

    @property
    def ok(self) -> bool:
        """Whether the edit passes every check."""
        return self.error is None


@dataclass(frozen=True)
class SaveResult:
    """A saved edit: the version it became and what it affects."""

    version: int
    effects: list[str] = field(default_factory=list)
    changed: bool = True


@dataclass
class ConfigEditor:
    """Edits of one configuration file, checked and versioned."""

    path: Path
    store: Store
    tenant: str
    checks: Sequence[Check] = ()
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _writing: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    """One save at a time in this process (between the file's check and its rename, no other save runs)."""

    @property
    def versions(self) -> ConfigVersions:
        """The file's saved versions."""
        return ConfigVersions(self.store, tenant=self.tenant)

    def document(self) -> ConfigDocument:
        """The file as it is now."""
        return ConfigDocument.read(self.path)

    async def preview(self, changes: Iterable[Change], *, expected: str | None = None) -> Preview:
        """Apply `changes` to the file and run every check; nothing is written.

        Raises:
            EditError: the changes cannot be applied (or would put a secret into the file).
            StaleEditError: `expected` is given and the file is no longer that text.
        """
        doc = self._current(expected)
        edited = doc.apply(changes)
        return await self._checked(edited)

    async def save(
        self, changes: Iterable[Change], *, author: str, summary: str = "", expected: str | None = None
    ) -> SaveResult:
        """Apply, check, write and version `changes`.

        Raises:
            ConfigError: the result fails a check (nothing is written); EditError / StaleEditError as `preview`.
        """
        changes = list(changes)
        async with self._writing:
            preview = await self.preview(changes, expected=expected)
            if preview.error is not None:
                raise preview.error
            summary = summary or "; ".join(c.describe() for c in changes)[:500]
            return await self._write(preview.edited, author=author, summary=summary, kind="edit", effects=changes)

    async def rollback(self, number: int, *, author: str, expected: str | None = None) -> SaveResult:
        """Write version `number` back (checked like any edit) as a new version.

        Raises:
            LookupError: there is no such version; ConfigError: that text no longer passes the checks.
        """
        version = await self.versions.get(number)
        if version is None:
            raise LookupError(f"there is no configuration version {number}")
        async with self._writing:
            doc = self._current(expected)
            preview = await self._checked(EditedConfig(doc, version.text))
            if preview.error is not None:
                raise preview.error
            summary = f"rolled back to version {number}"
            return await self._write(preview.edited, author=author, summary=summary, kind="rollback", effects=[])

    async def history(self, *, limit: int = 50, offset: int = 0) -> list[ConfigVersion]:
        """The kept versions, newest first; the file's current text is recorded first when it is not one."""
        await self._record_current(self.document(), author="console")
        return await self.versions.list(limit=limit, offset=offset)

    def _current(self, expected: str | None) -> ConfigDocument:
        doc = self.document()
        if expected is not None and doc.sha256 != expected:
            from cwsync.config.edit import StaleEditError

            raise StaleEditError(
                f"{self.path} changed since this page was loaded (by hand or another session): reload and try again"
            )
        return doc

    async def _checked(self, edited: EditedConfig) -> Preview:
        try:
            config = edited.validate(environ=self.environ)
        except ConfigError as exc:
            return Preview(edited, exc, None)
        found: list[tuple[tuple[Any, ...], str]] = []
        for check in self.checks:
            scope: tuple[str, ...] = getattr(check, "scope", ())
            if edited.changes and scope and not any(c.path[: len(scope)] == scope for c in edited.changes):
                continue  # the edit leaves what this check looks at alone
            found.extend(await check(config))
        if found:
            return Preview(edited, problems_in(edited, found), config)
        return Preview(edited, None, config)

    async def _record_current(self, doc: ConfigDocument, *, author: str) -> None:
        """Keep the file's text as a version when the newest version is not it (first save, or a hand edit)."""
        newest = await self.versions.list(limit=1)
        if newest and newest[0].sha256 == doc.sha256:
            return
        kind, summary = (
            ("original", "the file before the console's first save")
            if not newest
            else (
                "external",
                "changed outside the console",
            )
        )
        await self.versions.add(path=str(self.path), text=doc.text, author=author, summary=summary, kind=kind)

    async def _write(
        self, edited: EditedConfig, *, author: str, summary: str, kind: str, effects: Sequence[Change]
    ) -> SaveResult:
        await self._record_current(edited.base, author=author)
        if edited.text == edited.base.text:
            newest = await self.versions.list(limit=1)
            return SaveResult(newest[0].number, [], changed=False)
        edited.save()
        number = await self.versions.add(
            path=str(self.path), text=edited.text, author=author, summary=summary, kind=kind
        )
        said = effect_of(effects) if effects else ["affects future syncs only: what was synced stays as it is"]
        return SaveResult(number, said)
