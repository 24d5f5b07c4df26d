"""A HubSpot object as an engine `Target`: batch create, update and archive (100 per call), per-record results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cwsync.connectors.http import CwsyncApiError
from cwsync.connectors.hubspot import BatchResult, HubSpotClient
from cwsync.engine.pair import Write, WriteResult
from cwsync.engine.reading import chunks

__all__ = ["BATCH", "HubSpotTarget"]

BATCH = 100
"""HubSpot batch endpoints take at most 100 inputs."""


class HubSpotTarget:
    """Records of one HubSpot object type, created with a match property that holds the ConnectWise id (HubSpot
    does not echo a trace id: results are matched, and lost answers resolved, by it)."""

    def __init__(self, hs: HubSpotClient, object_type: str, *, match_property: str) -> None:
        self.hs, self.object_type, self.match_property = hs, object_type, match_property
        self.calls = 0
        """Batch write calls made."""

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        """Records an earlier attempt created: a search on the match property `IN (...)`, 100 values per query."""
        by_value = {str(w.values.get(self.match_property) or w.left_id): w.left_id for w in writes}
        found: dict[str, str] = {}
        for chunk in chunks(list(by_value), BATCH):
            group = {"filters": [{"propertyName": self.match_property, "operator": "IN", "values": chunk}]}
            pages = self.hs.search(self.object_type, filter_groups=[group], properties=[self.match_property])
            async for rows in pages:
                for row in rows:
                    value = str((row.get("properties") or {}).get(self.match_property) or "")
                    if value in by_value:
                        found.setdefault(by_value[value], str(row["id"]))
        return found

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        """One batch call per kind of write (per 100); a record HubSpot failed or did not return fails alone."""
        out: list[WriteResult] = []
        for action in ("create", "update", "delete"):
            some = [w for w in writes if w.action == action]
            if not some:
                continue
            self.calls += -(-len(some) // BATCH)
            if action == "create":
                inputs: list[dict[str, Any]] = [{"properties": _properties(w, create=True)} for w in some]
                result = await self.hs.batch_create(self.object_type, inputs, match_property=self.match_property)
            elif action == "update":
                updates = [{"id": w.right_id, "properties": _properties(w, create=False)} for w in some]
                result = await self.hs.batch_update(self.object_type, updates)
            else:
                result = await self.hs.batch_archive(self.object_type, [str(w.right_id) for w in some])
            out.extend(self._results(some, result))
        return out

    def _results(self, writes: Sequence[Write], result: BatchResult) -> list[WriteResult]:
        out = []
        for n, write in enumerate(writes):
            error: Exception | None = result.error_for(n)
            right_id = write.right_id
            if write.action == "create" and error is None:
                record = result.by_index.get(n)
                right_id = str(record["id"]) if record is not None else None
                if record is None:
                    error = CwsyncApiError(f"HubSpot did not return the created {self.object_type} record")
            out.append(WriteResult(write, right_id=right_id, error=error))
        return out


def _properties(write: Write, *, create: bool) -> dict[str, str]:
    """A write's values as HubSpot properties: an empty value clears the property, and a create leaves it out."""
    if create:
        return {k: v for k, v in write.values.items() if v is not None}
    return {k: "" if v is None else v for k, v in write.values.items()}
