"""The emulator's state backend: generated records plus a small overlay of what clients changed.

Generated records are never stored (the dataset rebuilds them from the seed), so 200k records cost almost no
memory; only records that were created, changed or deleted through the API live in the overlay. Validation follows
the real API: required fields, maximum lengths, references that must exist, unique identifiers, and the
`ErrorResponseMessage` body for every refusal.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cwsync_sandbox.connectwise.dataset import Dataset
from cwsync_sandbox.connectwise.resources import BY_ENTITY, Resource

_DELETED = None


class ApiRefusal(Exception):
    """A request the API refuses: carries the HTTP status and the real error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def invalid(resource_label: str, errors: list[dict[str, Any]]) -> ApiRefusal:
    """The 400 `InvalidObject` body the real API returns for validation failures."""
    name = resource_label[:1].lower() + resource_label[1:] if resource_label else "object"
    return ApiRefusal(400, {"code": "InvalidObject", "message": f"{name} object is invalid", "errors": errors})


def field_error(code: str, message: str, resource: str, field_name: str) -> dict[str, Any]:
    """One `ValidationError` entry of an error body."""
    return {"code": code, "message": message, "resource": resource, "field": field_name}


def not_found(resource: Resource, record_id: int) -> ApiRefusal:
    """The 404 body for a record that does not exist (error code UNCONFIRMED, see api-notes §3)."""
    label = resource.label or resource.entity
    return ApiRefusal(404, {"code": "NotFound", "message": f"{label} recId {record_id} not found", "errors": None})


def now_stamp() -> str:
    """The current time in the API's `yyyy-MM-ddTHH:mm:ssZ` form."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Change:
    """A committed write, handed to listeners (the callback dispatcher)."""

    resource: Resource
    action: str
    record: dict[str, Any]
    member: str


@dataclass
class Store:
    """Records of every entity: the dataset's, with the overlay of API writes on top."""

    dataset: Dataset
    href_base: str
    clock: Callable[[], str] = now_stamp
    overlay: dict[str, dict[int, dict[str, Any] | None]] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    listeners: list[Callable[[Change], None]] = field(default_factory=list)
    _unique: dict[str, dict[str, int]] = field(default_factory=dict)

    # -- reading -----------------------------------------------------------------------------------------------

    def base_count(self, entity: str) -> int:
        """How many generated records the entity has (0 for API-only tables such as callbacks)."""
        try:
            return self.dataset.count(entity)
        except KeyError:
            return 0

    def get(self, entity: str, record_id: int) -> dict[str, Any] | None:
        """The record as the API returns it, or None if it does not exist (a fresh copy: callers may mutate)."""
        layer = self.overlay.get(entity, {})
        if record_id in layer:
            found = layer[record_id]
            return copy.deepcopy(found) if found is not None else None
        if 1 <= record_id <= self.base_count(entity):
            return self.dataset.record(entity, record_id)
        return None

    def ids(self, entity: str, *, after: int = 0, parent_id: int | None = None) -> Iterator[int]:
        """Live record ids in ascending order, greater than `after`, optionally of one parent only."""
        layer = self.overlay.get(entity, {})
        resource = BY_ENTITY[entity]
        if parent_id is not None and resource.is_child:
            base: Iterator[int] = iter(self._child_ids(entity, parent_id))
        else:
            base = iter(range(after + 1, self.base_count(entity) + 1))
        for record_id in base:
            if record_id > after and not (record_id in layer and layer[record_id] is _DELETED):
                yield record_id
        created = sorted(i for i, rec in layer.items() if i > self.base_count(entity) and rec is not None)
        for record_id in created:
            if record_id > after and (parent_id is None or self._parent_of(resource, layer[record_id]) == parent_id):
                yield record_id

    def live_count(self, entity: str) -> int:
        """How many records exist, without generating any."""
        layer = self.overlay.get(entity, {})
        base = self.base_count(entity)
        deleted = sum(1 for i, rec in layer.items() if rec is None and i <= base)
        created = sum(1 for i, rec in layer.items() if rec is not None and i > base)
        return base - deleted + created

    def _child_ids(self, entity: str, parent_id: int) -> list[int]:
        try:
            return self.dataset.child_ids(entity, parent_id)
        except (KeyError, IndexError):
            return []

    @staticmethod
    def _parent_of(resource: Resource, record: Mapping[str, Any] | None) -> int | None:
        if record is None or resource.parent_field is None:
            return None
        value = record.get(resource.parent_field)
        found = value.get("id") if isinstance(value, Mapping) else value
        return found if isinstance(found, int) else None

    # -- writing -----------------------------------------------------------------------------------------------

    def create(
        self, resource: Resource, body: Mapping[str, Any], *, member: str, parent_id: int | None
    ) -> dict[str, Any]:
        """Validate and store a new record; returns it as the API would (201 body)."""
        record = self._validated(resource, dict(body))
        if resource.entity == "tickets":
            self._ticket_defaults(record)
        if resource.parent_field and parent_id is not None:
            record[resource.parent_field] = (
                parent_id if resource.parent_field == "ticketId" else self._reference_for(resource, parent_id)
            )
        record_id = self._allocate_id(resource.entity)
        stamp = self.clock()
        record["id"] = record_id
        record["_info"] = {
            "lastUpdated": stamp,
            "updatedBy": member,
            "dateEntered": stamp,
            "enteredBy": member,
        }
        if resource.soft_delete:
            record.setdefault("deletedFlag", False)
        self._check_unique(resource, record, record_id)
        self._put(resource, record_id, record)
        self._emit(resource, "added", record, member)
        return copy.deepcopy(record)

    def validate(self, resource: Resource, body: Mapping[str, Any]) -> None:
        """Check a body as a create would, storing nothing (ApiRefusal if it would be refused)."""
        self._validated(resource, copy.deepcopy(dict(body)))

    def replace(self, resource: Resource, record_id: int, body: Mapping[str, Any], *, member: str) -> dict[str, Any]:
        """PUT: the record becomes the body; fields not given are reset (to null/defaults)."""
        current = self._existing(resource, record_id)
        record = self._validated(resource, dict(body))
        record["id"] = record_id
        if resource.parent_field and resource.parent_field in current:
            record.setdefault(resource.parent_field, current[resource.parent_field])
        return self._commit_update(resource, record_id, record, current, member)

    def patch(self, resource: Resource, record_id: int, ops: Any, *, member: str) -> dict[str, Any]:
        """PATCH: apply JSON-patch `add`/`replace`/`remove` operations, then validate the result."""
        current = self._existing(resource, record_id)
        record = copy.deepcopy(current)
        for op in _patch_ops(resource, ops):
            _apply_op(record, op, self.dataset, resource)
        record = self._validated(resource, record)
        return self._commit_update(resource, record_id, record, current, member)

    def delete(self, resource: Resource, record_id: int, *, member: str) -> None:
        """DELETE: soft for companies (`deletedFlag`), hard for everything else."""
        current = self._existing(resource, record_id)
        if not resource.deletable:
            raise ApiRefusal(405, {"code": "MethodNotAllowed", "message": "DELETE is not supported", "errors": None})
        if resource.soft_delete:
            stamp = self.clock()
            current.update({"deletedFlag": True, "dateDeleted": stamp, "deletedBy": member})
            current["_info"] = {**current.get("_info", {}), "lastUpdated": stamp, "updatedBy": member}
            self._put(resource, record_id, current)
        else:
            self.overlay.setdefault(resource.entity, {})[record_id] = _DELETED
            self._forget_unique(resource, current)
        self._emit(resource, "deleted", current, member)

    def merge_company(self, record_id: int, *, member: str) -> None:
        """A company merge: `deletedFlag` set, `lastUpdated` untouched (as the real product does)."""
        resource = BY_ENTITY["companies"]
        current = self._existing(resource, record_id)
        current.update({"deletedFlag": True, "dateDeleted": self.clock(), "deletedBy": member})
        self._put(resource, record_id, current)

    def _ticket_defaults(self, record: dict[str, Any]) -> None:
        """What ConnectWise fills in on a new ticket: the board's default status and `closedFlag` from it.

        A ticket without a board goes to the first board (the real API uses the member's default board:
        UNCONFIRMED which); its status, when not given, is the board's status marked `defaultFlag`.
        """
        label = BY_ENTITY["tickets"].label
        if record.get("board") is None:
            board = self.get("boards", next(self.ids("boards"), 0))
            if board is not None:
                record["board"] = self._reference_from("boards", board)
        board_id = (record.get("board") or {}).get("id")
        status = record.get("status")
        if isinstance(status, Mapping) and "id" not in status and isinstance(board_id, int):
            errors: list[dict[str, Any]] = []
            found = self._find_reference("board_statuses", status, board_id)
            if found is None:
                shown = status.get("name")
                errors.append(field_error("InvalidField", f"status {shown!r} is not on the board.", label, "status"))
                raise invalid(label, errors)
            record["status"] = found
        if record.get("status") is None and isinstance(board_id, int):
            statuses = (self.get("board_statuses", i) for i in self.ids("board_statuses", parent_id=board_id))
            default = next((s for s in statuses if s is not None and s.get("defaultFlag")), None)
            if default is not None:
                record["status"] = self._reference_from("board_statuses", default)
        status_id = (record.get("status") or {}).get("id")
        current = self.get("board_statuses", status_id) if isinstance(status_id, int) else None
        record.setdefault("closedFlag", bool(current and current.get("closedStatus")))

    # -- helpers -----------------------------------------------------------------------------------------------

    def _existing(self, resource: Resource, record_id: int) -> dict[str, Any]:
        record = self.get(resource.entity, record_id)
        if record is None:
            raise not_found(resource, record_id)
        return record

    def _commit_update(
        self,
        resource: Resource,
        record_id: int,
        record: dict[str, Any],
        current: Mapping[str, Any],
        member: str,
    ) -> dict[str, Any]:
        info = dict(current.get("_info") or {})
        info.update({"lastUpdated": self.clock(), "updatedBy": member})
        record["_info"] = info
        record["id"] = record_id
        self._forget_unique(resource, current)
        try:
            self._check_unique(resource, record, record_id)
        except ApiRefusal:
            self._remember_unique(resource, current, record_id)
            raise
        self._put(resource, record_id, record)
        self._emit(resource, "updated", record, member)
        return copy.deepcopy(record)

    def _put(self, resource: Resource, record_id: int, record: dict[str, Any]) -> None:
        self.overlay.setdefault(resource.entity, {})[record_id] = record
        self._remember_unique(resource, record, record_id)

    def _emit(self, resource: Resource, action: str, record: dict[str, Any], member: str) -> None:
        for listener in self.listeners:
            listener(Change(resource, action, copy.deepcopy(record), member))

    def _allocate_id(self, entity: str) -> int:
        base = max(self.base_count(entity), max(self.overlay.get(entity, {0: None}).keys(), default=0))
        next_id = max(self.next_ids.get(entity, 0), base) + 1
        self.next_ids[entity] = next_id
        return next_id

    def _validated(self, resource: Resource, record: dict[str, Any]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        label = resource.label or resource.entity
        for name in resource.required:
            if record.get(name) in (None, "", []):
                errors.append(field_error("NullValue", f"The field {name} is required.", label, name))
        if resource.any_required and all(record.get(n) in (None, "") for n in resource.any_required):
            fields = ", ".join(resource.any_required)
            message = f"At least one address field is required: {fields}."
            errors.append(field_error("NullValue", message, label, resource.any_required[0]))
        for name, allowed in resource.enums.items():
            value = record.get(name)
            if value is not None and value not in allowed:
                message = f"The field {name} must be one of {', '.join(allowed)} (got {value!r})."
                errors.append(field_error("InvalidField", message, label, name))
        for name, limit in resource.max_lengths.items():
            value = record.get(name)
            if isinstance(value, str) and len(value) > limit:
                message = f"The field {name} must be a string with a maximum length of {limit}."
                errors.append(field_error("InvalidField", message, label, name))
        for name, target in resource.references.items():
            if name in record and record[name] is not None:
                record[name] = self._resolve_reference(label, name, target, record[name], errors)
        if errors:
            raise invalid(label, errors)
        return record

    def _resolve_reference(self, label: str, name: str, target: str, value: Any, errors: list[dict[str, Any]]) -> Any:
        if isinstance(value, list):
            return [self._resolve_reference(label, name, target, item, errors) for item in value]
        if not isinstance(value, Mapping):
            errors.append(field_error("InvalidField", f"{name} must be a reference object", label, name))
            return value
        if BY_ENTITY[target].is_child and "id" not in value and "name" in value:
            return value  # a child's name (a board status) means something on its parent only: resolved later
        found = self._find_reference(target, value)
        if found is None:
            shown = value.get("id", value.get("identifier", value.get("name")))
            errors.append(field_error("InvalidField", f"{name} {shown!r} was not found.", label, name))
            return value
        return found

    def _by_name(self, target: str, name: str, parent_id: int | None) -> dict[str, Any] | None:
        wanted = name.strip().lower()
        for record_id in self.ids(target, parent_id=parent_id):
            record = self.get(target, record_id)
            if record is not None and str(record.get("name", record.get("description", ""))).lower() == wanted:
                return record
        return None

    def _find_reference(
        self, target: str, value: Mapping[str, Any], parent_id: int | None = None
    ) -> dict[str, Any] | None:
        record: dict[str, Any] | None = None
        if isinstance(value.get("id"), int):
            record = self.get(target, value["id"])
        elif isinstance(value.get("identifier"), str):
            record_id = self._unique_index(BY_ENTITY[target]).get(value["identifier"].lower())
            record = self.get(target, record_id) if record_id else None
        elif isinstance(value.get("name"), str) and BY_ENTITY[target].permission == "Table Setup":
            # A reference by name ({"name": "Help Desk"}) resolves on setup tables (boards, statuses, types), as
            # the real API does for board and status; which other references take a name is UNCONFIRMED.
            record = self._by_name(target, value["name"], parent_id)
        if record is None:
            return None
        return self._reference_from(target, record)

    def _reference_for(self, resource: Resource, parent_id: int) -> dict[str, Any]:
        parent_entity = Dataset.CHILD_PARENTS.get(resource.entity, "")
        record = self.get(parent_entity, parent_id)
        if record is None:
            raise ApiRefusal(
                404, {"code": "NotFound", "message": f"parent recId {parent_id} not found", "errors": None}
            )
        return self._reference_from(parent_entity, record)

    def _reference_from(self, target: str, record: Mapping[str, Any]) -> dict[str, Any]:
        ref: dict[str, Any] = {"id": record["id"]}
        for key in ("identifier", "name", "summary", "sort", "level"):
            if key in record:
                ref[key] = record[key]
        if "name" not in ref and "description" in record:
            ref["name"] = record["description"]
        if "name" not in ref and "firstName" in record:
            ref["name"] = f"{record.get('firstName', '')} {record.get('lastName', '')}".strip()
        if "sortOrder" in record:
            ref["sort"] = record["sortOrder"]
        kind = singular(target.split("_")[-1])
        ref["_info"] = {f"{kind}_href": f"{self.href_base}/{BY_ENTITY[target].path}/{record['id']}"}
        return ref

    # -- unique identifiers ------------------------------------------------------------------------------------

    def _unique_index(self, resource: Resource) -> dict[str, int]:
        key = resource.unique or "identifier"
        if resource.entity not in self._unique:
            index: dict[str, int] = {}
            for record_id in self.ids(resource.entity):
                record = self.get(resource.entity, record_id)
                if record and isinstance(record.get(key), str):
                    index[record[key].lower()] = record_id
            self._unique[resource.entity] = index
        return self._unique[resource.entity]

    def _check_unique(self, resource: Resource, record: Mapping[str, Any], record_id: int) -> None:
        value = record.get(resource.unique) if resource.unique else None
        if not isinstance(value, str):
            return
        holder = self._unique_index(resource).get(value.lower())
        if holder is not None and holder != record_id:
            label = resource.label or resource.entity
            message = f"The {resource.unique} {value!r} is already in use."
            raise invalid(label, [field_error("ObjectExists", message, label, resource.unique or "")])

    def _remember_unique(self, resource: Resource, record: Mapping[str, Any], record_id: int) -> None:
        value = record.get(resource.unique) if resource.unique else None
        if isinstance(value, str) and resource.entity in self._unique:
            self._unique[resource.entity][value.lower()] = record_id

    def _forget_unique(self, resource: Resource, record: Mapping[str, Any]) -> None:
        value = record.get(resource.unique) if resource.unique else None
        if isinstance(value, str) and resource.entity in self._unique:
            self._unique[resource.entity].pop(value.lower(), None)


def singular(word: str) -> str:
    """`companies` -> `company`, `statuses` -> `status`, `types` -> `type` (for `_info` href names)."""
    for suffix, replacement in (("ies", "y"), ("uses", "us"), ("s", "")):
        if word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    return word


def _patch_ops(resource: Resource, ops: Any) -> list[dict[str, Any]]:
    label = resource.label or resource.entity
    if not isinstance(ops, list) or not ops:
        message = "A PATCH body must be a non-empty JSON array of operations."
        raise invalid(label, [field_error("InvalidObject", message, label, "")])
    checked: list[dict[str, Any]] = []
    for op in ops:
        if not isinstance(op, Mapping) or op.get("op") not in ("add", "replace", "remove"):
            message = "Each operation needs op add, replace or remove."
            raise invalid(label, [field_error("InvalidField", message, label, "op")])
        if not isinstance(op.get("path"), str) or not op["path"].strip("/"):
            raise invalid(label, [field_error("InvalidField", "Each operation needs a path.", label, "path")])
        checked.append(dict(op))
    return checked


def _apply_op(record: dict[str, Any], op: Mapping[str, Any], dataset: Dataset, resource: Resource) -> None:
    segments = [s for s in op["path"].split("/") if s]
    label = resource.label or resource.entity
    known = _known_fields(dataset, resource)
    if known and segments[0] not in known and segments[0] not in record:
        message = f"{segments[0]} is not a field of {label} (paths are case-sensitive)."
        raise invalid(label, [field_error("InvalidField", message, label, segments[0])])
    target = record
    for segment in segments[:-1]:
        child = target.get(segment)
        if not isinstance(child, dict):
            child = {}
            target[segment] = child
        target = child
    if op["op"] == "remove":
        target.pop(segments[-1], None)
    else:
        target[segments[-1]] = op.get("value")


def _known_fields(dataset: Dataset, resource: Resource) -> frozenset[str]:
    try:
        return dataset.field_names(resource.entity) | set(resource.required) | set(resource.references)
    except KeyError:
        return frozenset()
