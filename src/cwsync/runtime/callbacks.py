"""Keep cwsync's ConnectWise callbacks registered (CW-5): status, install, repair and remove, all idempotent.

cwsync knows its own `/system/callbacks` entries by their description, `cwsync:{tenant}:{type}`; entries with any
other description belong to someone else and are never changed. `install` converges the site on the wanted specs:
it creates what is missing, PATCHes drifted fields (`url`, `type`, `level`, `objectId`) and deletes extra copies of
one of ours, so running it again changes nothing. `repair` also clears `inactiveFlag`, which ConnectWise sets after
three days of failed deliveries (api-notes §4.3). Client errors propagate unchanged: the CLI shows them.

Choices where the notes are UNCONFIRMED: `type` and `level` are compared case-insensitively (whether ConnectWise
keeps their case is not known), and cwsync registers them in lower case, as the payloads name types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from cwsync.connectors.connectwise import ConnectWiseClient, replace_ops
from cwsync.connectors.connectwise.conditions import F

__all__ = ["CALLBACKS_PATH", "CallbackManager", "CallbackSpec", "CallbackState", "desired_callbacks"]

CALLBACKS_PATH = "system/callbacks"
MAX_DESCRIPTION = 100
_CASELESS = frozenset({"type", "level"})
# URL-path safe, and without ':' so that one tenant's description prefix can never cover another tenant's.
_NAME = re.compile(r"[A-Za-z0-9_.~-]+")

Status = Literal["ok", "missing", "drifted", "inactive"]


@dataclass(frozen=True, kw_only=True)
class CallbackSpec:
    """One callback entry cwsync wants on the site."""

    type: str
    level: str = "owner"
    object_id: int = 1
    url: str
    description: str

    def fields(self) -> dict[str, Any]:
        """The fields compared with (and PATCHed onto) a registered entry, by their API names."""
        return {"url": self.url, "type": self.type, "level": self.level, "objectId": self.object_id}

    def body(self) -> dict[str, Any]:
        """The `POST /system/callbacks` body."""
        return {**self.fields(), "description": self.description}


@dataclass
class CallbackState:
    """How the site's entry for a spec compares with it.

    `differences` names the API fields that differ (`url`, `type`, `level`, `objectId`), `inactiveFlag` when the
    entry is disabled, and `duplicates` when more than one entry carries the spec's description.
    """

    spec: CallbackSpec
    entry: dict[str, Any] | None
    status: Status
    differences: list[str]
    duplicates: list[dict[str, Any]] = field(default_factory=list)


def desired_callbacks(*, types: Sequence[str], public_url: str, tenant: str) -> list[CallbackSpec]:
    """The owner-level callbacks for a tenant, one per record type, all posting to the tenant's intake URL.

    The URL holds no secret (it is written to access logs and ConnectWise's own screens): a callback is authentic by
    its `x-content-signature`, which the server verifies with the key ConnectWise serves (`runtime.intake`).

    Raises:
        ValueError: an empty type, a tenant that is not URL-safe, a public URL that is not http(s) or has a query,
            or a description over 100 characters.
    """
    _check_name("tenant", tenant)
    url = f"{_base_url(public_url)}/hooks/connectwise/{tenant}?id="  # ConnectWise appends the record id
    specs = []
    for name in dict.fromkeys(t.strip().lower() for t in types):
        if not name:
            raise ValueError("callback types must not be empty")
        description = f"cwsync:{tenant}:{name}"
        if len(description) > MAX_DESCRIPTION:
            raise ValueError(f"description {description!r} is longer than {MAX_DESCRIPTION} characters")
        specs.append(CallbackSpec(type=name, url=url, description=description))
    return specs


class CallbackManager:
    """Reads and converges one tenant's callback entries on a ConnectWise site."""

    def __init__(self, client: ConnectWiseClient, *, tenant: str) -> None:
        _check_name("tenant", tenant)
        self._client = client
        self.prefix = f"cwsync:{tenant}:"
        self._log = structlog.get_logger("cwsync.runtime.callbacks").bind(tenant=tenant)

    async def status(self, specs: Sequence[CallbackSpec]) -> list[CallbackState]:
        """Compare the site's entries (every page) with the specs, matching ours by description."""
        self._check_specs(specs)
        ours = await self._ours()
        return [_state(spec, [e for e in ours if e.get("description") == spec.description]) for spec in specs]

    async def install(self, specs: Sequence[CallbackSpec]) -> list[CallbackState]:
        """Create missing entries, PATCH drifted ones and drop duplicates; returns the states afterwards."""
        return await self._converge(specs, reactivate=False)

    async def repair(self, specs: Sequence[CallbackSpec]) -> list[CallbackState]:
        """`install`, and also reactivate entries that are inactive."""
        return await self._converge(specs, reactivate=True)

    async def remove(self) -> int:
        """Delete every entry of this tenant (description prefix `cwsync:{tenant}:`); returns how many."""
        ours = await self._ours()
        for entry in ours:
            await self._delete(entry)
        return len(ours)

    async def _ours(self) -> list[dict[str, Any]]:
        entries = [e async for e in self._client.stream_records(CALLBACKS_PATH)]
        return [e for e in entries if str(e.get("description") or "").startswith(self.prefix)]

    async def _converge(self, specs: Sequence[CallbackSpec], *, reactivate: bool) -> list[CallbackState]:
        before = await self.status(specs)
        changed = False
        for state in before:
            changed = await self._fix(state, reactivate=reactivate) or changed
        return await self.status(specs) if changed else before

    async def _fix(self, state: CallbackState, *, reactivate: bool) -> bool:
        spec = state.spec
        if state.entry is None:
            created = await self._client.create(CALLBACKS_PATH, spec.body(), match=F("description") == spec.description)
            self._log.info("callbacks.created", callback_id=created.get("id"), callback_type=spec.type)
            return True
        for extra in state.duplicates:
            await self._delete(extra)
        wanted = spec.fields()
        changes = {name: wanted[name] for name in state.differences if name in wanted}
        if reactivate and "inactiveFlag" in state.differences:
            changes["inactiveFlag"] = False
        if changes:
            await self._client.patch(CALLBACKS_PATH, state.entry["id"], replace_ops(changes))
            self._log.info("callbacks.patched", callback_id=state.entry["id"], fields=sorted(changes))
        return bool(changes or state.duplicates)

    async def _delete(self, entry: Mapping[str, Any]) -> None:
        await self._client.delete(CALLBACKS_PATH, entry["id"])
        self._log.info("callbacks.deleted", callback_id=entry["id"], description=entry.get("description"))

    def _check_specs(self, specs: Sequence[CallbackSpec]) -> None:
        descriptions = [s.description for s in specs]
        if len(set(descriptions)) != len(descriptions):
            raise ValueError("two callback specs share a description")
        foreign = [d for d in descriptions if not d.startswith(self.prefix)]
        if foreign:
            raise ValueError(f"specs {foreign} do not start with {self.prefix!r}: cwsync would not recognise them")


def _state(spec: CallbackSpec, candidates: list[dict[str, Any]]) -> CallbackState:
    """The state of a spec given the entries carrying its description; the closest (then oldest) one is kept."""
    if not candidates:
        return CallbackState(spec, None, "missing", [])
    ranked = sorted(candidates, key=lambda e: (len(_differences(spec, e)), e.get("id", 0)))
    entry, extras = ranked[0], ranked[1:]
    differences = _differences(spec, entry)
    drifted = any(name != "inactiveFlag" for name in differences) or bool(extras)
    status: Status = "drifted" if drifted else "inactive" if differences else "ok"
    return CallbackState(spec, entry, status, differences, extras)


def _differences(spec: CallbackSpec, entry: Mapping[str, Any]) -> list[str]:
    found = [name for name, value in spec.fields().items() if not _same(name, value, entry.get(name))]
    return [*found, "inactiveFlag"] if entry.get("inactiveFlag") else found


def _same(name: str, wanted: Any, actual: Any) -> bool:
    if name in _CASELESS and isinstance(actual, str):
        return str(wanted).lower() == actual.lower()
    return bool(wanted == actual)


def _check_name(what: str, value: str) -> None:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{what} must be letters, digits, '-', '_', '.' or '~', got {value!r}")


def _base_url(public_url: str) -> str:
    base = public_url.strip().rstrip("/")
    scheme, _, rest = base.partition("://")
    if scheme.lower() not in {"http", "https"} or not rest or "?" in rest or "#" in rest:
        raise ValueError(f"public_url must be an http(s) URL without query or fragment, got {public_url!r}")
    return base
