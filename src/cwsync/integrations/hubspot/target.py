"""A HubSpot object as an engine `Target`: batch create, update and archive (100 per call), per-record results."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cwsync.connectors.http import CwsyncApiError, NotFoundError
from cwsync.connectors.hubspot import AmbiguousBatchWriteError, BatchResult, HubSpotClient
from cwsync.engine.pair import Write, WriteResult
from cwsync.engine.reading import chunks

__all__ = ["BATCH", "HubSpotTarget"]

BATCH = 100
"""HubSpot batch endpoints take at most 100 inputs."""


class HubSpotTarget:
    """Records of one HubSpot object type, created with a match property that holds the ConnectWise id or another
    key of the record (HubSpot does not echo a trace id: results are matched, and lost answers resolved, by it).

    A write's values are HubSpot properties. `kept`, when given, says what a link keeps of a record HubSpot
    returned for a create or an update (`WriteResult.right_values`: when it was last modified, ...)."""

    def __init__(
        self,
        hs: HubSpotClient,
        object_type: str,
        *,
        match_property: str | None,
        kept: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> None:
        self.hs, self.object_type, self.match_property, self.kept = hs, object_type, match_property, kept
        self.calls = 0
        """Batch write calls made."""

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        """Records an earlier attempt created: a search on the match property `IN (...)`, 100 values per query
        (none without a match property)."""
        if self.match_property is None:
            return {}
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
                out.extend(await self._create(some))
                continue
            if action == "update":
                updates = [{"id": w.right_id, "properties": _properties(w, create=False)} for w in some]
                result = await self.hs.batch_update(self.object_type, updates)
                out.extend(await self._gone(self._results(some, result)))
                continue
            else:
                result = await self.hs.batch_archive(self.object_type, [str(w.right_id) for w in some])
            out.extend(self._results(some, result))
        return out

    async def _create(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Batch creates. A lost answer the client could not resolve (the match property is not a unique-value
        one, so HubSpot cannot read by it) is resolved here by a search on it: records found are linked, the rest of
        the doubtful chunk fails alone (its intent stays in the journal, so the next run looks it up before creating
        it), and the chunks the client did not send are sent again."""
        inputs: list[dict[str, Any]] = [{"properties": _properties(w, create=True)} for w in writes]
        try:
            result = await self.hs.batch_create(self.object_type, inputs, match_property=self.match_property)
        except AmbiguousBatchWriteError as exc:
            return await self._resolve(writes, exc)
        return self._results(writes, result)

    @property
    def _unresolved(self) -> str:
        return (
            f"the answer to its create was lost and a search on {self.match_property} does not show it yet: the next"
            " run looks it up before creating it"
        )

    async def _resolve(self, writes: Sequence[Write], exc: AmbiguousBatchWriteError) -> list[WriteResult]:
        doubtful, unsent = set(exc.indices), set(exc.unsent)
        try:
            found = await self.find([writes[n] for n in sorted(doubtful)])
        except CwsyncApiError:
            found = {}
        out = self._results(writes, exc.completed if isinstance(exc.completed, BatchResult) else BatchResult())
        for n in sorted(doubtful):
            right_id = found.get(writes[n].left_id)
            error = None if right_id else CwsyncApiError(self._unresolved)
            out[n] = WriteResult(writes[n], right_id=right_id, error=error)
        if unsent:
            again = await self._create([writes[n] for n in sorted(unsent)])
            for n, result in zip(sorted(unsent), again, strict=True):
                out[n] = result
        return out

    async def _gone(self, results: list[WriteResult]) -> list[WriteResult]:
        """Updates HubSpot answered "not found": HubSpot fails a whole batch for one deleted (archived) object, so
        the ids are read back (one batch read) and only those HubSpot really lacks keep the `NotFoundError` (the
        engine then drops or tombstones their links); the others fail plainly and are sent again by the next run."""
        doubtful = [r for r in results if isinstance(r.error, NotFoundError)]
        if not doubtful:
            return results
        try:
            held = await self.hs.batch_read(self.object_type, [str(r.write.right_id) for r in doubtful])
        except CwsyncApiError:
            return results
        present = {str(record.get("id")) for record in held}
        for r in doubtful:
            if str(r.write.right_id) in present:
                r.error = CwsyncApiError(f"{r.error} (another {self.object_type} record of the batch was not found)")
        return results

    def _results(self, writes: Sequence[Write], result: BatchResult) -> list[WriteResult]:
        out = []
        for n, write in enumerate(writes):
            error: Exception | None = result.error_for(n)
            right_id = write.right_id
            record = result.by_index.get(n) if error is None else None
            if write.action == "create" and error is None:
                right_id = str(record["id"]) if record is not None else None
                if record is None:
                    error = CwsyncApiError(
                        f"HubSpot did not return the created {self.object_type} record: the next run looks it up"
                        " before creating it"
                    )
            kept = self.kept(record) if self.kept is not None and record is not None else None
            out.append(WriteResult(write, right_id=right_id, error=error, right_values=kept))
        return out


def _properties(write: Write, *, create: bool) -> dict[str, Any]:
    """A write's values as HubSpot properties: an empty value clears the property, and a create leaves it out.
    Values without an empty one (every create the engine sends: `shapes.hubspot_properties` leaves them out) are
    sent as they are, not copied."""
    values = write.values
    if type(values) is dict and None not in values.values():
        return values
    if create:
        return {k: v for k, v in values.items() if v is not None}
    return {k: "" if v is None else v for k, v in values.items()}
