"""The one vocabulary of cwsync: sides, directions, actions and conflict policies, defined once.

Every layer speaks these words (the configuration, the pure core, the store, the engine). The enums are what code
uses; the store's records carry the same words as plain strings (`SideName`, `ActionName`: literal types, checked
below to hold exactly the enums' values), because run items and links are read back from JSON and SQL as text.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

__all__ = [
    "Action",
    "ActionName",
    "ConflictPolicy",
    "DeletePolicy",
    "Direction",
    "Flow",
    "Side",
    "SideName",
]


class Direction(StrEnum):
    """Which way a value flows between ConnectWise (left) and the other system (right)."""

    TO_RIGHT = "->"
    TO_LEFT = "<-"
    BOTH = "<->"

    @classmethod
    def parse(cls, text: str) -> Direction:
        """Accept the arrows and the words used in the docs (`connectwise-to-hubspot`, `two-way`, ...)."""
        words = {
            "->": cls.TO_RIGHT,
            "<-": cls.TO_LEFT,
            "<->": cls.BOTH,
            "two-way": cls.BOTH,
            "both": cls.BOTH,
            "connectwise-to-hubspot": cls.TO_RIGHT,
            "hubspot-to-connectwise": cls.TO_LEFT,
            "connectwise-to-other": cls.TO_RIGHT,
            "to-right": cls.TO_RIGHT,
            "to-left": cls.TO_LEFT,
        }
        key = text.strip().lower()
        if key not in words:
            raise ValueError(f"unknown direction {text!r}: use ->, <-, <-> (or connectwise-to-hubspot, two-way, ...)")
        return words[key]

    def allows(self, towards: Direction) -> bool:
        """Whether values may flow towards `towards` (TO_RIGHT or TO_LEFT)."""
        return self is Direction.BOTH or self is towards

    def narrowed(self, by: Direction) -> Direction:
        """The direction a field may flow when its object flows only `by` (object direction caps field direction)."""
        if by is Direction.BOTH:
            return self
        if self is Direction.BOTH or self is by:
            return by
        raise ValueError("field direction contradicts the object direction")


class ConflictPolicy(StrEnum):
    """How a field changed on both sides since the last sync is resolved."""

    CONNECTWISE_WINS = "connectwise-wins"
    OTHER_WINS = "other-wins"
    NEWEST_WINS = "newest-wins"

    @classmethod
    def parse(cls, text: str) -> ConflictPolicy:
        """Exactly the documented spellings and their aliases (`cw-wins`, `hubspot-wins`, `hudu-wins`, ...);
        anything else is refused with the valid ones named."""
        key = str(text).strip().lower().replace("_", "-").replace(" ", "-")
        policy = _POLICY_ALIASES.get(key)
        if policy is None:
            raise ValueError(f"unknown conflict policy {text!r}: use one of {', '.join(_POLICY_ALIASES)}")
        return policy


_POLICY_ALIASES: dict[str, ConflictPolicy] = {
    "connectwise-wins": ConflictPolicy.CONNECTWISE_WINS,
    "cw-wins": ConflictPolicy.CONNECTWISE_WINS,
    "manage-wins": ConflictPolicy.CONNECTWISE_WINS,
    "left-wins": ConflictPolicy.CONNECTWISE_WINS,
    "hubspot-wins": ConflictPolicy.OTHER_WINS,
    "hs-wins": ConflictPolicy.OTHER_WINS,
    "hudu-wins": ConflictPolicy.OTHER_WINS,
    "other-wins": ConflictPolicy.OTHER_WINS,
    "right-wins": ConflictPolicy.OTHER_WINS,
    "newest-wins": ConflictPolicy.NEWEST_WINS,
    "latest-wins": ConflictPolicy.NEWEST_WINS,
}
"""What `conflict_policy` accepts: the product's names and the obvious short forms."""


class Side(StrEnum):
    """ConnectWise is left, the other system right."""

    LEFT = "left"
    RIGHT = "right"

    @property
    def other(self) -> Side:
        """The opposite side."""
        return Side.RIGHT if self is Side.LEFT else Side.LEFT

    @property
    def towards(self) -> Direction:
        """The direction values travel when written to this side."""
        return Direction.TO_RIGHT if self is Side.RIGHT else Direction.TO_LEFT


class Action(StrEnum):
    """What happens to a record: what the planner decides (the first five) and what a run records besides."""

    CREATE = "create"
    UPDATE = "update"
    LINK = "link"
    SKIP = "skip"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    DELETE = "delete"
    FAIL = "fail"


SideName = Literal["left", "right"]
"""A `Side` as the store keeps it."""
ActionName = Literal["create", "update", "link", "skip", "conflict", "unchanged", "delete", "fail"]
"""An `Action` as the store keeps it."""
Flow = Literal["left_to_right", "right_to_left"]
"""Which way a run item's write went (towards the right: `Direction.TO_RIGHT`)."""

DeletePolicy = Literal["archive", "delete", "flag", "ignore", "unlink"]
"""What a record deleted in ConnectWise does to its counterpart (#13): `archive` / `delete` it (what the target
does: Hudu and HubSpot archive, a table deletes the row), `flag` it (mark it where the target has a place: HubSpot's
`cw_deleted`), `ignore` (the link kept, marked, no longer synced) or `unlink` (the link dropped, the counterpart left
as it is). Each integration's section narrows this to what its pairs can honour."""

assert set(get_args(SideName)) == {s.value for s in Side}
assert set(get_args(ActionName)) == {a.value for a in Action}
