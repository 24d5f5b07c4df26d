"""The pure planner: create, link, update, conflicts, echo suppression, directions, dependencies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from cwsync.config.model import ObjectSync
from cwsync.config.vocabulary import ConflictPolicy, Direction
from cwsync.core.mapping import FieldMap, ObjectMapping, build_mapping
from cwsync.core.plan import (
    Action,
    LinkBase,
    PairInput,
    Side,
    Snapshot,
    match_values,
    plan_pair,
    plan_pair_cooperatively,
)
from cwsync.core.values import FieldType

FIELDS = (
    FieldMap("email", "email", "email", left_type=FieldType.EMAIL, right_type=FieldType.EMAIL),
    FieldMap("firstname", "firstName", "firstname"),
    FieldMap("phone", "phone", "phone", left_type=FieldType.PHONE, right_type=FieldType.PHONE),
    FieldMap("company", "company.id", "company", left_type=FieldType.REFERENCE, right_type=FieldType.REFERENCE),
)


def mapping(direction: Direction = Direction.BOTH, fields: tuple[FieldMap, ...] = FIELDS) -> ObjectMapping:
    """A contacts-like mapping matching on email, with a company reference."""
    return ObjectMapping(
        "contacts", "company/contacts", "contacts", fields, ("email",), direction, {"company": "companies"}
    )


def snap(record_id: str, when: int = 1, **values: str | None) -> Snapshot:
    """A snapshot with canonical values and an update time (minutes past a fixed hour)."""
    return Snapshot(record_id, values, updated_at=datetime(2026, 11, 1, 12, when, tzinfo=UTC))


BASE = {"email": "a@x.com", "firstname": "Ann", "phone": "+1 555 0100", "company": "7"}
PARENTS = {"company": {"7": "h7", "8": "h8"}}


def plan(**kw: object) -> list:  # type: ignore[type-arg]
    """Plan with sensible defaults."""
    data = {
        "mapping": mapping(),
        "policy": ConflictPolicy.CONNECTWISE_WINS,
        "left": [],
        "right": [],
        "links_by_left": {},
        "links_by_right": {},
        "parents": PARENTS,
        **kw,
    }
    return plan_pair(PairInput(**data))  # type: ignore[arg-type]


def linked(left: dict[str, str | None] | None = None, right: dict[str, str | None] | None = None) -> dict:  # type: ignore[type-arg]
    """Links for one pair L1 <-> H1 whose base is BASE."""
    link = LinkBase("L1", "H1", left or BASE, right or BASE)
    return {"links_by_left": {"L1": link}, "links_by_right": {"H1": link}}


def test_unmatched_left_record_is_created_on_the_right() -> None:
    """No link, no match → create with every field that may flow right."""
    [item] = plan(left=[snap("L1", **BASE)])
    assert item.action is Action.CREATE
    assert item.writes[0].side is Side.RIGHT
    assert dict(item.writes[0].values) == BASE


def test_match_by_email_links_instead_of_creating() -> None:
    """A right record with the same email (any case) is linked, not duplicated (HS-6)."""
    left = snap("L1", **BASE)
    right = snap("H9", **{**BASE, "email": "A@X.com"})
    [item] = plan(left=[left], right_matches={("email", "a@x.com"): right})
    assert item.action is Action.LINK
    assert (item.left_id, item.right_id, item.match_key) == ("L1", "H9", "email")


def test_link_fills_differing_fields_by_policy() -> None:
    """On first link, differing fields go the policy's way (ConnectWise wins by default), without a conflict."""
    left = snap("L1", **BASE)
    right = snap("H9", **{**BASE, "firstname": "Anne"})
    [item] = plan(left=[left], right_matches={("email", "a@x.com"): right})
    assert item.writes[0].side is Side.RIGHT
    assert dict(item.writes[0].values) == {"firstname": "Ann"}
    assert not item.conflicts


def test_projection_equal_to_base_is_unchanged() -> None:
    """A record whose values equal the link's base is unchanged: the echo of our own write plans nothing."""
    [item] = plan(right=[snap("H1", **BASE)], **linked())
    assert item.action is Action.UNCHANGED
    assert not item.writes


def test_phone_formatting_is_not_a_change() -> None:
    """Phone numbers compare by digits."""
    [item] = plan(right=[snap("H1", **{**BASE, "phone": "+15550100"})], **linked())
    assert item.action is Action.UNCHANGED


def test_left_change_flows_right() -> None:
    """A field changed in ConnectWise only is written to the other side."""
    [item] = plan(left=[snap("L1", **{**BASE, "phone": "+1 555 0199"})], **linked())
    assert item.action is Action.UPDATE
    assert [(w.side, dict(w.values)) for w in item.writes] == [(Side.RIGHT, {"phone": "+1 555 0199"})]
    assert item.right_values is not None
    assert item.right_values["phone"] == "+1 555 0199"


def test_right_change_flows_left() -> None:
    """A field changed on the other side only is written to ConnectWise."""
    [item] = plan(right=[snap("H1", **{**BASE, "firstname": "Annie"})], **linked())
    assert [(w.side, dict(w.values)) for w in item.writes] == [(Side.LEFT, {"firstname": "Annie"})]


def test_changes_on_both_sides_to_different_fields_both_flow() -> None:
    """Different fields changed on each side merge: each goes the other way."""
    left = snap("L1", **{**BASE, "phone": "1"})
    right = snap("H1", **{**BASE, "firstname": "Annie"})
    [item] = plan(left=[left], right=[right], **linked())
    writes = {w.side: dict(w.values) for w in item.writes}
    assert writes == {Side.RIGHT: {"phone": "1"}, Side.LEFT: {"firstname": "Annie"}}
    assert not item.conflicts


@pytest.mark.parametrize(
    ("policy", "left_when", "right_when", "winner"),
    [
        (ConflictPolicy.CONNECTWISE_WINS, 1, 2, Side.LEFT),
        (ConflictPolicy.OTHER_WINS, 2, 1, Side.RIGHT),
        (ConflictPolicy.NEWEST_WINS, 1, 2, Side.RIGHT),
        (ConflictPolicy.NEWEST_WINS, 3, 2, Side.LEFT),
    ],
)
def test_same_field_changed_on_both_sides_is_a_recorded_conflict(
    policy: ConflictPolicy, left_when: int, right_when: int, winner: Side
) -> None:
    """Both sides changed the same field: the policy decides, and the conflict is recorded (HS-10)."""
    left = snap("L1", left_when, **{**BASE, "firstname": "Left"})
    right = snap("H1", right_when, **{**BASE, "firstname": "Right"})
    [item] = plan(left=[left], right=[right], policy=policy, **linked())
    [conflict] = item.conflicts
    assert conflict.winner is winner
    assert conflict.base == "Ann"
    [write] = item.writes
    assert write.side is winner.other
    assert write.values["firstname"] == ("Left" if winner is Side.LEFT else "Right")


def test_field_direction_blocks_the_other_way() -> None:
    """A field that flows only left→right ignores a change made on the right."""
    fields = tuple(
        f if f.name != "firstname" else FieldMap("firstname", "firstName", "firstname", Direction.TO_RIGHT)
        for f in FIELDS
    )
    [item] = plan(mapping=mapping(fields=fields), right=[snap("H1", **{**BASE, "firstname": "X"})], **linked())
    assert not item.writes
    assert "not synced by direction: firstname" in item.reason


def test_one_way_pair_does_not_create_on_the_left() -> None:
    """With the object flowing → only, a new right record is skipped with the reason."""
    [item] = plan(mapping=mapping(Direction.TO_RIGHT), right=[snap("H5", **BASE)])
    assert item.action is Action.SKIP
    assert "flows ->" in item.reason


def test_missing_parent_blocks_the_record_with_its_reason() -> None:
    """A contact whose company has no counterpart waits, and says which company (HS-8)."""
    [item] = plan(left=[snap("L1", **{**BASE, "company": "99"})])
    assert item.action is Action.SKIP
    assert "companies 99" in item.reason


def test_contact_without_company_is_skipped_by_caller_reason() -> None:
    """A record the caller marked (e.g. no company) is skipped with that reason, not created."""
    record = Snapshot("L1", BASE, skip_reason="a contact needs a company")
    [item] = plan(left=[record])
    assert item.action is Action.SKIP
    assert item.reason == "a contact needs a company"


def test_two_new_records_with_the_same_email_create_once() -> None:
    """Within one run, the second record with the same match value is not created again."""
    items = plan(left=[snap("L1", **BASE), snap("L2", **BASE)])
    assert [i.action for i in items] == [Action.CREATE, Action.SKIP]
    assert "L1" in items[1].reason


def test_right_record_linked_by_left_pass_is_not_planned_twice() -> None:
    """A right record handled through its link on the left pass gets no second item."""
    items = plan(left=[snap("L1", **BASE)], right=[snap("H1", **BASE)], **linked())
    assert len(items) == 1


def test_match_values_lowercase_and_skip_empty() -> None:
    """Match values are compared case-insensitively; empty keys are not matched on."""
    assert match_values(mapping(), {"email": "A@X.COM"}) == [("email", "a@x.com")]
    assert match_values(mapping(), {"email": None}) == []


def test_build_mapping_applies_config_and_refuses_bad_types() -> None:
    """Config adds/removes/redirects fields; a date→number mapping is refused naming the pair (HS-4)."""
    config = ObjectSync.model_validate(
        {
            "fields": {
                "remove": ["phone"],
                "add": [{"connectwise": "title", "hubspot": "jobtitle"}],
                "direction": {"firstname": "->"},
            }
        }
    )
    built = build_mapping(
        pair="contacts", left_object="c", right_object="c", defaults=FIELDS, match=("email",), config=config
    )
    names = {f.name: f for f in built.fields}
    assert "phone" not in names
    assert names["jobtitle"].left == "title"
    assert names["firstname"].direction is Direction.TO_RIGHT
    bad = ObjectSync.model_validate(
        {
            "fields": {
                "add": [{"connectwise": "dateEntered", "hubspot": "employees", "type": "date", "other_type": "number"}]
            }
        }
    )
    with pytest.raises(ValueError, match=r"dateEntered .date. → employees .number."):
        build_mapping(pair="contacts", left_object="c", right_object="c", defaults=FIELDS, match=("email",), config=bad)


def test_field_that_never_writes_empty_keeps_the_other_value() -> None:
    """A field with write_empty=False leaves the other side alone when its own value is empty."""
    fields = (*FIELDS, FieldMap("owner", "rep", "owner", Direction.TO_RIGHT, write_empty=False))
    left = snap("L1", **{**BASE, "owner": None})
    right = snap("H9", **{**BASE, "owner": "77"})
    [item] = plan(mapping=mapping(fields=fields), left=[left], right_matches={("email", "a@x.com"): right})
    assert not item.writes
    assert "owner" in item.reason


async def test_cooperative_planning_gives_the_same_plan_and_lets_other_tasks_run() -> None:
    """Planned in steps, a page gives exactly `plan_pair`'s items (duplicate match keys across steps included),
    and a task waiting on the event loop runs between the steps."""
    lefts = [snap(f"L{n}", **{**BASE, "email": f"p{n % 250}@x.com"}) for n in range(300)]  # 50 duplicates
    rights = [snap(f"H{n}", **{**BASE, "email": f"h{n}@x.com"}) for n in range(30)]
    data = PairInput(
        mapping=mapping(),
        policy=ConflictPolicy.CONNECTWISE_WINS,
        left=lefts,
        right=rights,
        links_by_left={},
        links_by_right={},
        parents=PARENTS,
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    items = await plan_pair_cooperatively(data, every=50)
    task.cancel()
    assert items == plan_pair(data)
    assert sum(item.action is Action.SKIP for item in items) == 50  # the same match key is not created twice
    assert ticks - before >= 300 // 50  # the ticker ran between the steps
