"""Field mappings of an object pair: declared once, checked when the configuration loads (HS-2..4). Pure.

The *left* side is always ConnectWise; the *right* side is the other system. A record of either side is first
flattened by its connector's shape (e.g. `communicationItems` → `email`, `phone`), then *projected*: every mapped
field's value brought to its canonical form, keyed by the mapping's name. Plans compare projections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from cwsync.config.model import FieldChange, ObjectSync
from cwsync.config.vocabulary import Direction
from cwsync.core.values import FieldType, canonical_of, keeps_canonical_text, type_problem

Transform = Callable[[str], str]

TRANSFORMS: dict[str, Transform] = {
    "strip": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
    "digits": lambda text: "".join(ch for ch in text if ch.isdigit() or ch == "+"),
    "domain": lambda text: _domain(text),
}


def _domain(text: str) -> str:
    """`https://www.Acme.com/about` → `acme.com` (a website as HubSpot's company domain)."""
    host = text.strip().lower().split("://", 1)[-1].split("/", 1)[0]
    return host[4:] if host.startswith("www.") else host


class MappingError(ValueError):
    """A mapping that cannot work; the message names the field pair."""


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One mapped field: ConnectWise path ↔ the other side's field, its direction, types and value map."""

    name: str
    left: str
    right: str
    direction: Direction = Direction.BOTH
    left_type: FieldType = FieldType.TEXT
    right_type: FieldType = FieldType.TEXT
    value_map: Mapping[str, str] | None = None
    transform: str | None = None
    required_right: bool = False
    required_left: bool = False
    write_empty: bool = True
    """False: an empty value never overwrites the other side (e.g. an owner cwsync cannot map)."""
    _lowered: Mapping[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    """The value map keyed by lower-cased keys (built once: `from_left` runs for every field of every record)."""
    _as_is: bool = field(default=False, init=False, repr=False, compare=False)
    """A canonical left value is already the canonical right value (no map, no transform, and the right type's
    canonical form of a canonical text is that text): `from_left` skips the second pass."""
    _left_canonical: Callable[[Any], str | None] = field(init=False, repr=False, compare=False)
    _right_canonical: Callable[[Any], str | None] = field(init=False, repr=False, compare=False)
    """`canonical` of each side's type, made once (`values.canonical_of`)."""
    project: Callable[[Any], str | None] = field(init=False, repr=False, compare=False)
    """`from_left`, as a function made once: for a field whose canonical left value is its right value, the left
    type's canonical form alone (what `ObjectMapping.project_left` calls for every field of every record)."""

    def __post_init__(self) -> None:
        lowered = None if self.value_map is None else {k.lower(): v for k, v in self.value_map.items()}
        object.__setattr__(self, "_lowered", lowered)
        plain = self.value_map is None and not self.transform
        as_is = plain and (self.right_type is self.left_type or keeps_canonical_text(self.right_type))
        object.__setattr__(self, "_as_is", as_is)
        object.__setattr__(self, "_left_canonical", canonical_of(self.left_type))
        object.__setattr__(self, "_right_canonical", canonical_of(self.right_type))
        object.__setattr__(self, "project", self._projector())

    def _projector(self) -> Callable[[Any], str | None]:
        if not self._as_is:
            return self.from_left
        left, pick = self._left_canonical, self._pick

        def project(value: Any) -> str | None:
            if isinstance(value, list | tuple):
                value = pick(value)
            return left(value)

        return project

    def check(self) -> None:
        """Raise MappingError if the types cannot map (HS-4) or the transform is unknown."""
        problem = type_problem(self.left_type, self.right_type, has_value_map=bool(self.value_map))
        if problem:
            raise MappingError(
                f"{self.left} ({self.left_type.value}) → {self.right} ({self.right_type.value}): {problem}"
            )
        if self.transform and self.transform not in TRANSFORMS:
            known = ", ".join(sorted(TRANSFORMS))
            raise MappingError(f"{self.left} → {self.right}: unknown transform {self.transform!r} (known: {known})")

    def from_left(self, value: Any) -> str | None:
        """A left value in canonical (right-side) form.

        A list (e.g. a company's several types) maps through the value map in the map's order, so the first
        listed key the record has wins (SB-2); without a value map its items are joined with `;`.
        """
        if isinstance(value, list | tuple):
            value = self._pick(value)
        text = self._left_canonical(value)
        if self._as_is:
            return text
        if text is not None and self.value_map is not None:
            assert self._lowered is not None
            text = self._lowered.get(text.lower(), self.value_map.get("*", text))
        if text is not None and self.transform:
            text = TRANSFORMS[self.transform](text)
        return self._right_canonical(text)

    def _pick(self, items: list[Any] | tuple[Any, ...]) -> str | None:
        texts = [str(item) for item in items if item is not None]
        if self.value_map is None:
            return ";".join(texts) or None
        present = {text.lower() for text in texts}
        for key in self.value_map:
            if key.lower() in present:
                return key
        return texts[0] if texts else None

    def from_right(self, value: Any) -> str | None:
        """A right value in canonical form."""
        return self._right_canonical(value)

    def to_left(self, value: str | None) -> str | None:
        """A canonical value in the left side's vocabulary (value map inverted), still as text."""
        if value is None or self.value_map is None:
            return value
        inverse = {v.lower(): k for k, v in self.value_map.items()}
        return inverse.get(value.lower(), value)


@dataclass(frozen=True)
class ObjectMapping:
    """All mapped fields of an object pair, the match keys, and the object's direction."""

    pair: str
    left_object: str
    right_object: str
    fields: tuple[FieldMap, ...]
    match: tuple[str, ...]
    direction: Direction = Direction.BOTH
    references: Mapping[str, str] = field(default_factory=dict)  # field name -> pair name of the parent

    def by_name(self) -> dict[str, FieldMap]:
        """Fields keyed by name."""
        return {f.name: f for f in self.fields}

    @cached_property
    def match_types(self) -> tuple[tuple[str, FieldType], ...]:
        """The match keys with the type their values compare by (the right side's): looked up once, not for every
        record a run matches."""
        fields = self.by_name()
        return tuple((key, fields[key].right_type) for key in self.match)

    @cached_property
    def right_names(self) -> dict[str, str]:
        """Each field's name → its field on the right side (made once: every HubSpot write names its properties)."""
        return {f.name: f.right for f in self.fields}

    @cached_property
    def written_names(self) -> dict[str, str]:
        """`right_names` less the references (a write carries those as associations, not as values)."""
        return {name: right for name, right in self.right_names.items() if name not in self.references}

    @cached_property
    def _projections(self) -> tuple[tuple[tuple[str, str, Callable[[Any], str | None]], ...], ...]:
        """Per side, each field's (name, flat key, canonical form): looked up once, not per field of every record."""
        return (
            tuple((f.name, f.left, f.project) for f in self.fields),
            tuple((f.name, f.right, f._right_canonical) for f in self.fields),
        )

    def project_left(self, flat: Mapping[str, Any]) -> dict[str, str | None]:
        """The canonical projection of a flattened left record (each field's `FieldMap.from_left`)."""
        get = flat.get
        return {name: project(get(key)) for name, key, project in self._projections[0]}

    def project_right(self, flat: Mapping[str, Any]) -> dict[str, str | None]:
        """The canonical projection of a flattened right record (each field's `FieldMap.from_right`)."""
        get = flat.get
        return {name: project(get(key)) for name, key, project in self._projections[1]}


def one_way(pair: str, left_object: str, right_object: str, names: Iterable[str]) -> ObjectMapping:
    """A ConnectWise → target mapping of fields computed by the integration (each name is its own path on both
    sides, text): what an integration that projects records itself plans against."""
    fields = tuple(FieldMap(name=n, left=n, right=n, direction=Direction.TO_RIGHT) for n in names)
    return ObjectMapping(pair, left_object, right_object, fields, (), Direction.TO_RIGHT)


def build_mapping(
    *,
    pair: str,
    left_object: str,
    right_object: str,
    defaults: Iterable[FieldMap],
    match: tuple[str, ...],
    config: ObjectSync,
    references: Mapping[str, str] | None = None,
    default_direction: Direction = Direction.BOTH,
) -> ObjectMapping:
    """Defaults plus the configured changes (add, remove, direction, value maps), type-checked.

    Raises:
        MappingError: a change names an unknown field, a direction contradicts the object's, or types clash.
    """
    object_direction = Direction(config.direction) if config.direction else default_direction
    fields = {f.name: f for f in defaults}
    for name in config.fields.remove:
        _known(fields, name, pair, "remove")
        del fields[name]
    for change in config.fields.add:
        added = _added(change)
        fields[added.name] = added
    for name, text in config.fields.direction.items():
        _known(fields, name, pair, "direction")
        fields[name] = replace(fields[name], direction=Direction(text))
    for name, value_map in config.value_maps.items():
        _known(fields, name, pair, "value_maps")
        fields[name] = replace(fields[name], value_map=dict(value_map))
    explicit = {c.other for c in config.fields.add} | set(config.fields.direction)
    checked = tuple(
        _narrow(f, object_direction, pair)
        for f in fields.values()
        if f.name in explicit or f.direction.allows(object_direction) or object_direction is Direction.BOTH
    )
    for f in checked:
        f.check()
    keys = tuple(config.match) if config.match else match
    for key in keys:
        _known({f.name: f for f in checked}, key, pair, "match")
    return ObjectMapping(pair, left_object, right_object, checked, keys, object_direction, dict(references or {}))


def _added(change: FieldChange) -> FieldMap:
    try:
        left_type = FieldType(change.type or "text")
        right_type = FieldType(change.other_type or change.type or "text")
    except ValueError as exc:
        known = ", ".join(t.value for t in FieldType)
        raise MappingError(f"{change.connectwise} → {change.other}: {exc} (types: {known})") from exc
    return FieldMap(
        name=change.other,
        left=change.connectwise,
        right=change.other,
        direction=Direction(change.direction),
        left_type=left_type,
        right_type=right_type,
        value_map=change.value_map,
        transform=change.transform,
    )


def _known(fields: Mapping[str, FieldMap], name: str, pair: str, where: str) -> None:
    if name not in fields:
        raise MappingError(f"{pair}: {where} names {name!r}, which is not a mapped field (mapped: {', '.join(fields)})")


def _narrow(f: FieldMap, object_direction: Direction, pair: str) -> FieldMap:
    try:
        return replace(f, direction=f.direction.narrowed(object_direction))
    except ValueError as exc:
        raise MappingError(
            f"{pair}: field {f.name!r} flows {f.direction.value} but the object flows {object_direction.value}"
        ) from exc
