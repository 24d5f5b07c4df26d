"""`cwsync.logs.Redactor`: configured secrets and secret-looking text never survive into a log line."""

from __future__ import annotations

import pytest

from cwsync.logs import REDACTED, Redactor


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ('POST /hooks/connectwise/default/tok-abc?id=5 HTTP/1.1" 204', "/hooks/connectwise/default/", "tok-abc"),
        ("GET /api/runs?limit=5&api_token=s3cr3t HTTP/1.1", "limit=5", "s3cr3t"),
        ("GET /cb?code=abc123&state=x", "state=x", "abc123"),
        ("Authorization: Bearer pat-na1-0000-1111", "Authorization:", "pat-na1-0000-1111"),
        ("key 0123456789abcdef0123456789abcdef01 leaked", "leaked", "0123456789abcdef0123456789abcdef01"),
    ],
)
def test_secret_looking_text_is_redacted(text: str, kept: str, gone: str) -> None:
    cleaned = Redactor().text(text)
    assert kept in cleaned
    assert gone not in cleaned
    assert REDACTED in cleaned


def test_registered_values_are_redacted_anywhere_and_short_ones_ignored() -> None:
    redactor = Redactor()
    redactor.register(["SbxPrivateKey001", "abc"])
    assert redactor.text("login company+pub:SbxPrivateKey001 x") == f"login company+pub:{REDACTED} x"
    assert redactor.text("abc stays") == "abc stays"  # too short to be told from ordinary words
    event = {"event": "x", "nested": {"url": "http://h/p?token=t1"}, "items": ["SbxPrivateKey001"]}
    assert redactor.processor(None, "info", event) == {
        "event": "x",
        "nested": {"url": f"http://h/p?token={REDACTED}"},
        "items": [REDACTED],
    }


def test_ordinary_text_is_left_alone() -> None:
    text = 'GET /api/runs/12?limit=20 HTTP/1.1" 200 run.finished counts created=3'
    assert Redactor().text(text) == text
