"""The checks a configuration edit passes besides the model's: the ones `cwsync sync` runs before its first page.

`mapping_check` builds the enabled HubSpot pairs' mappings (`syncs.hubspot.run.mappings`: unknown fields, types
that cannot map, directions that contradict the object's); `SchemaCheck` runs `syncs.hubspot.schema.check_schemas`
against the real HubSpot property definitions and ConnectWise custom fields (a date into a number property, a
value map sending values a dropdown does not offer, an unknown caption or filter field), with the definitions
cached for a short while so typing in a form does not read HubSpot on every keystroke. When HubSpot or ConnectWise
cannot be reached the schema check is skipped (logged): the model's checks still stand, and `sync` checks again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from cwsync.config import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.http import CwsyncApiError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.mapping import MappingError
from cwsync.integrations.hubspot.run import mappings
from cwsync.integrations.hubspot.schema import check_schemas
from cwsync.workflows.changes.errors import SetupError
from cwsync.workflows.changes.setup import validate_statuses

__all__ = ["ChangesCheck", "PropertyCache", "SchemaCheck", "mapping_check"]

log = structlog.get_logger("cwsync.console")
Found = list[tuple[tuple[Any, ...], str]]


async def mapping_check(config: Config) -> Found:
    """The mappings of the enabled HubSpot pairs build (what `cwsync sync` refuses at its start otherwise)."""
    try:
        mappings(config)
    except MappingError as exc:
        pair = str(exc).split(":", 1)[0]
        objects = config.syncs.hubspot.objects if config.syncs.hubspot else {}
        where = ("syncs", "hubspot", "objects", pair) if pair in objects else ("syncs", "hubspot", "objects")
        return [(where, str(exc))]
    return []


@dataclass
class PropertyCache:
    """HubSpot property definitions per object type, kept `ttl` seconds (the console's forms read them often)."""

    hs: HubSpotClient
    ttl: float = 30.0
    _kept: dict[str, tuple[float, list[dict[str, Any]]]] = field(default_factory=dict)

    async def of(self, object_type: str) -> list[dict[str, Any]]:
        """The definitions of `object_type` (`companies`, `contacts`, `deals`, `products`)."""
        now = time.monotonic()
        kept = self._kept.get(object_type)
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        found = [dict(p) for p in await self.hs.properties(object_type)]
        self._kept[object_type] = (now, found)
        return found

    async def many(self, object_types: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The definitions of several object types."""
        return {t: await self.of(t) for t in dict.fromkeys(object_types)}

    def forget(self, object_type: str | None = None) -> None:
        """Read again next time (after cwsync created a property)."""
        if object_type is None:
            self._kept.clear()
        else:
            self._kept.pop(object_type, None)


@dataclass
class SchemaCheck:
    """`check_schemas` as an edit check, with the server's clients."""

    cw: ConnectWiseClient
    properties: PropertyCache
    scope: tuple[str, ...] = ("syncs", "hubspot")

    async def __call__(self, config: Config) -> Found:
        """The schema problems of the edited configuration's enabled HubSpot pairs."""
        try:
            maps = mappings(config)
        except MappingError:
            return []  # mapping_check reports it
        if not maps:
            return []
        try:
            definitions: Mapping[str, list[dict[str, Any]]] = await self.properties.many(
                [m.right_object for m in maps.values()]
            )
            problems = await check_schemas(config, maps, self.cw, definitions)
        except CwsyncApiError as exc:
            log.warning("console.schema_check_skipped", error=exc.message)
            return []
        return [(p.loc, p.message) for p in problems]


@dataclass
class ChangesCheck:
    """`changes.setup.validate_statuses` as an edit check: every board, status, company and configuration type the
    `changes:` section names exists in ConnectWise (what the change workflow refuses at its start otherwise)."""

    cw: ConnectWiseClient
    scope: tuple[str, ...] = ("syncs", "changes")

    async def __call__(self, config: Config) -> Found:
        """The names of the edited `changes:` section ConnectWise does not have."""
        changes = config.syncs.changes
        if changes is None or not changes.enabled:
            return []
        try:
            await validate_statuses(self.cw, changes)
        except SetupError as exc:
            return [(("syncs", "changes"), problem) for problem in exc.problems]
        except CwsyncApiError as exc:
            log.warning("console.changes_check_skipped", error=exc.message)
        return []
