"""The ConnectWise fields the HubSpot sync asks for (`shapes.READS`) are all that its records are used for.

The sync reads ConnectWise with `fields=` (a page of whole contacts is mostly links to other resources and fields
no mapping uses): a record read that way must flatten, filter, date and patch exactly as the whole record does.
Checked on the sandbox's generated records, and on records with every optional part (custom fields, several
communication items, types).
"""

from __future__ import annotations

from typing import Any

import pytest

from cwsync.config.model import ObjectSync
from cwsync.core.mapping import build_mapping
from cwsync.engine.reading import last_updated
from cwsync.integrations.hubspot import shapes
from cwsync.integrations.hubspot.defaults import OBJECTS
from cwsync.integrations.hubspot.run import left_skip
from cwsync_sandbox.connectwise.app import SandboxSettings, build_sandbox
from cwsync_sandbox.connectwise.conditions import project_fields

ENTITIES = {"companies": "companies", "contacts": "contacts", "deals": "opportunities"}


def _records(entity: str, n: int = 120) -> list[dict[str, Any]]:
    box = build_sandbox(SandboxSettings(records=300, seed=5))
    found = [box.store.get(entity, record_id) for record_id in range(1, n + 1)]
    return [record for record in found if record is not None]


def _mapping(pair: str) -> Any:
    d = OBJECTS[pair]
    return build_mapping(
        pair=pair,
        left_object=d.left_object,
        right_object=d.right_object,
        defaults=d.fields,
        match=d.match,
        config=ObjectSync(),
        references=d.references,
        default_direction=d.default_direction,
    )


@pytest.mark.parametrize("pair", sorted(ENTITIES))
def test_a_record_read_with_the_fields_flattens_as_the_whole_record(pair: str) -> None:
    records = _records(ENTITIES[pair])
    assert records
    flatten = shapes.FLATTENERS[pair]
    mapping = _mapping(pair)
    for record in records:
        read = project_fields(record, shapes.READS[pair])
        assert len(read) < len(record)  # the fields leave something out
        assert flatten(read) == flatten(record)
        assert mapping.project_left(flatten(read)) == mapping.project_left(flatten(record))
        assert left_skip(pair, flatten(read), []) == left_skip(pair, flatten(record), [])
        assert last_updated(read) == last_updated(record) is not None
    if pair == "companies":
        for record in records:
            read = project_fields(record, shapes.READS[pair])
            assert shapes.flatten_company(read, priority=("Prospect",)) == shapes.flatten_company(
                record, priority=("Prospect",)
            )


def test_a_patch_built_against_a_record_read_with_the_fields_is_the_same() -> None:
    """Writes that replace ConnectWise arrays whole (communication items, custom fields) are built against the
    record as read: the fields keep those arrays whole."""
    mapping = _mapping("contacts")
    contact = {
        "id": 5,
        "firstName": "Ann",
        "company": {"id": 7, "name": "Acme", "_info": {"company_href": "https://x/7"}},
        "site": {"id": 1, "name": "Main"},
        "communicationItems": [
            {"id": 1, "type": {"id": 2, "name": "Direct"}, "value": "555-0100", "communicationType": "Phone"},
            {"id": 2, "type": {"id": 4, "name": "Cell"}, "value": "555-0199", "communicationType": "Phone"},
            {"id": 3, "type": {"id": 1, "name": "Email"}, "value": "a@acme.com", "communicationType": "Email"},
        ],
        "customFields": [{"id": 1, "caption": "Tier", "type": "Text", "value": "Gold"}],
        "_info": {"lastUpdated": "2026-01-02T03:04:05Z", "notes_href": "https://x/notes"},
    }
    read = project_fields(contact, shapes.READS["contacts"])
    values = {"email": "b@acme.com", "phone": None, "mobilephone": "555-0200"}
    assert shapes.connectwise_patch("contacts", mapping, values, read) == shapes.connectwise_patch(
        "contacts", mapping, values, contact
    )
    assert shapes.flatten_contact(read) == shapes.flatten_contact(contact)
    assert "site" not in read
    assert read["_info"] == {"lastUpdated": "2026-01-02T03:04:05Z"}
