"""A configuration's `lastUpdated` as a device keeps it: ConnectWise's own form rewritten at once, every other form
converted, the same text either way (`device_values`)."""

from __future__ import annotations

import random
from datetime import UTC
from typing import Any

from cwsync.engine.reading import last_updated
from cwsync.integrations.devices.sync import device_values

TYPES = {"Firewall": "Firewall"}
BASE = "2026-10-31T04:09:26Z"


def _converted(text: Any) -> str | None:
    moment = last_updated({"_info": {"lastUpdated": text}})
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _kept(text: Any) -> Any:
    values = device_values({"id": 1, "name": "fw", "type": {"name": "Firewall"}, "_info": {"lastUpdated": text}}, TYPES)
    assert isinstance(values, dict)
    return values["cw_last_updated"]


def test_connectwise_moments_and_other_forms_are_kept_as_converted() -> None:
    others = ["2026-10-31 04:09:26Z", "20261031T040926.123Z", "2026-10-31T04:09:26+02:00", "2026-13-31T04:09:26Z"]
    for text in [BASE, *others]:
        assert _kept(text) == _converted(text), text
    assert _kept(BASE) == "2026-10-31T04:09:26+00:00"
    assert _kept(None) is None
    assert _kept(5) is None


def test_any_near_miss_of_the_form_is_kept_as_converted() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        chars = list(BASE)
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice("0123456789-T:Z +.,x\u0663")
        text = "".join(chars)
        assert _kept(text) == _converted(text), text
