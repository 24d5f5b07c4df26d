"""Naming a record for `explain`: which stored pair, which side, and which system is on the other side."""

from __future__ import annotations

import pytest

from cwsync.integrations.systems import RecordPair, resolve, right_system


def test_hubspot_objects_and_prefixed_pairs_name_their_counterpart() -> None:
    assert [right_system(p) for p in ("contacts", "hudu:configurations", "catalog:products")] == [
        "hubspot",
        "hudu",
        "hubspot",
    ]


def test_a_record_is_resolved_to_its_pair_and_side() -> None:
    assert resolve("connectwise", "deals") == RecordPair("deals", "left", "hubspot")
    assert resolve("connectwise", "hudu:sites") == RecordPair("hudu:sites", "left", "hudu")
    assert resolve("hudu", "configurations") == RecordPair("hudu:configurations", "right", "hudu")
    assert resolve("hudu", "hudu:configurations") == RecordPair("hudu:configurations", "right", "hudu")
    assert resolve("hubspot", "contacts") == RecordPair("contacts", "right", "hubspot")


@pytest.mark.parametrize(
    ("system", "obj", "message"),
    [("salesforce", "contacts", "system must be one of"), ("hubspot", "hudu:companies", "synced with Hudu")],
)
def test_a_wrong_system_is_refused_with_the_reason(system: str, obj: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(system, obj)
