"""Fuzzing the webhook intake (ConnectWise callbacks and HubSpot webhooks, signed and unsigned), issue 20.

Properties: never a 5xx; every refusal is a JSON `{"error": ...}`; a refused delivery queues nothing; a signed
delivery naming a valid record is accepted and queues (or coalesces into) that record's job.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.harness import BOGUS_SIGNATURE, HOOK, Edge, edge
from tests.fuzz.strategies import NASTY_NUMBERS, header_bytes, json_values, raw_bodies

_DIGITS = re.compile(r"[0-9]{1,20}")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Edge]:
    async with edge(tmp_path) as e:
        yield e


def _answered(r: httpx.Response, allowed: set[int]) -> None:
    assert r.status_code in allowed, (r.status_code, r.text)
    if r.status_code >= 400:
        assert isinstance(r.json().get("error") or r.json().get("detail"), str), r.text


async def _jobs(site: Edge) -> set[str]:
    """Every job in the store, by its record (`system:pair:id`) or, for other jobs, its queueing key."""
    return {str(job.record or job.queueing_key) for job in await site.server.jobs.list(limit=10_000)}


@settings(FUZZ, max_examples=40)
@given(body=raw_bodies | json_values.map(lambda v: json.dumps(v).encode()), signature=header_bytes, token=st.text())
async def test_unsigned_callbacks_are_refused(site: Edge, body: bytes, signature: bytes, token: str) -> None:
    """Any body, any signature header, any token in the path: a 4xx and nothing queued."""
    before = await _jobs(site)
    url = HOOK if not token else f"/hooks/connectwise/default/{quote(token, safe='')}"
    r = await site.app.post(url, content=body, headers={"x-content-signature": signature})
    _answered(r, {307, 400, 401, 404, 405})  # 307: a token of "." is a trailing slash, which the router redirects
    assert await _jobs(site) == before


ids = st.one_of(NASTY_NUMBERS, st.integers(min_value=-10, max_value=2**32), st.text(max_size=5), json_values)


@settings(FUZZ, max_examples=40)
@given(
    record_id=ids,
    kind=st.sampled_from(["contact", "company", "Contact", "ticket", "", 5]),
    action=st.sampled_from(["updated", "added", "deleted", "", None, 1]),
    entity=st.one_of(st.none(), json_values, json_values.map(json.dumps), st.sampled_from(["{", "[" * 40])),
    extra=st.dictionaries(st.sampled_from(["MessageId", "CompanyId", "Metadata", "X"]), json_values, max_size=2),
)
async def test_signed_callbacks(site: Edge, record_id: Any, kind: Any, action: Any, entity: Any, extra: Any) -> None:
    """A signed callback is accepted (204) or refused (400/401) — a refused one queues nothing; an accepted contact
    or company change with a valid id has its record's job waiting."""
    body = site.callback(ID=record_id, Type=kind, Action=action, Entity=entity, **extra)
    before = await _jobs(site)
    r = await site.app.post(HOOK, content=body, headers={"x-content-signature": site.cw_signature(body)})
    _answered(r, {204, 400, 401})
    after = await _jobs(site)
    if r.status_code != 204:
        assert after == before
        return
    valid = isinstance(record_id, int) and not isinstance(record_id, bool) and 1 <= record_id < 2**31
    pair = {"contact": "contacts", "company": "companies"}.get(str(kind).lower())
    if valid and pair and "Metadata" not in extra and str(action).lower() != "deleted" and "MessageId" not in extra:
        assert f"connectwise:{pair}:{record_id}" in after
    assert len(after - before) <= 1


@settings(FUZZ, max_examples=40)
@given(body=raw_bodies, signature=header_bytes, timestamp=header_bytes | st.integers().map(lambda i: str(i).encode()))
async def test_unsigned_hubspot_webhooks_are_refused(
    site: Edge, body: bytes, signature: bytes, timestamp: bytes
) -> None:
    """Any body with any (or a well-formed but wrong) signature and any timestamp: 401/400, nothing queued."""
    before = await _jobs(site)
    for sig in (signature, BOGUS_SIGNATURE.encode()):
        headers = {"x-hubspot-signature-v3": sig, "x-hubspot-request-timestamp": timestamp}
        _answered(await site.app.post("/hooks/hubspot", content=body, headers=headers), {400, 401})
    assert await _jobs(site) == before


events = st.fixed_dictionaries(
    {
        "eventId": st.integers(min_value=1, max_value=2**40),
        "subscriptionType": st.sampled_from(["contact.propertyChange", "company.creation", "deal.deletion", "x", ""]),
        "objectId": ids,
        "occurredAt": st.integers(min_value=0, max_value=2**45),
    },
    optional={"propertyName": st.sampled_from(["dealstage", "email"]), "propertyValue": json_values},
)


@settings(FUZZ, max_examples=40)
@given(batch=st.lists(events, max_size=5) | json_values)
async def test_signed_hubspot_webhooks(site: Edge, batch: Any) -> None:
    """A signed batch is accepted (204) or refused (400); every event naming a valid object of a synced type has its
    record job waiting, and nothing else is queued."""
    if isinstance(batch, list):  # new deliveries (the server de-duplicates by eventId, rightly)
        batch = [{**e, "eventId": time.monotonic_ns()} if isinstance(e, dict) else e for e in batch]
    body = json.dumps(batch).encode()
    before = await _jobs(site)
    r = await site.app.post("/hooks/hubspot", content=body, headers=site.hs_headers(body))
    _answered(r, {204, 400})
    new = await _jobs(site) - before
    if r.status_code == 400:
        assert not new
        return
    pairs = {"contact": "contacts", "company": "companies", "deal": "deals"}
    expected, quotes = set(), set()
    for event in batch:
        object_id, kind = event.get("objectId"), str(event.get("subscriptionType")).split(".")[0]
        if isinstance(object_id, str) and _DIGITS.fullmatch(object_id.strip()):
            object_id = int(object_id.strip())
        valid = isinstance(object_id, int) and not isinstance(object_id, bool) and 1 <= object_id < 2**63
        if valid and kind in pairs:
            expected.add(f"hubspot:{pairs[kind]}:{object_id}")
            quotes.add(f"quote:default:{object_id}")  # a deal entering the quote stage also queues a quote job
    assert new <= expected | quotes
    assert expected <= await _jobs(site)
