"""Hudu error responses → the shared error tree (`cwsync.connectors.http.errors`).

Hudu answers `{"error": "..."}` (sometimes `{"message": ...}`, and 500 as `{"status": 500, "error": ...}`); its
429 is the text `Retry later` (notes B1). Statuses map as the tree says, with two Hudu choices:

- 401 → `AuthenticationError` with a hint on where the key comes from;
- 403 → `PermissionDeniedError` (the key's scope: destructive actions, company access, IP allow-list);
- 404 → `NotFoundError`; 422 ("Unable to process request") → `ValidationError` (a record-level error);
- 429 → `RateLimitedError` with `retry_after` from `Retry-After` (None when absent: the client supplies a pause).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from cwsync.connectors.http import (
    CwsyncApiError,
    ValidationError,
    error_for_status,
    parse_retry_after,
    redact_url,
)
from cwsync.connectors.http.errors import status_line

__all__ = ["error_from_response"]

_MAX_TEXT = 300
_KEY_HINT = (
    "Check the Hudu API key (Hudu: Admin > Basic Information > API Keys): it may be mistyped, deactivated or "
    "belong to another instance, or this address may be outside the key's IP allow-list."
)
_SCOPE_HINT = (
    "The API key is valid but not allowed to do this: check its scope in Admin > Basic Information > API Keys "
    "(destructive actions, password access, company-specific access, IP allow-list)."
)
_HTML_HINT = "A web page answered instead of the Hudu API: check base_url (a proxy or login page?)."


def error_from_response(response: httpx.Response) -> CwsyncApiError:
    """The `CwsyncApiError` for a Hudu response with status ≥ 400."""
    status = response.status_code
    message, hint = _message(response)
    details: dict[str, Any] = {"method": response.request.method, "url": redact_url(response.request.url)}
    if status == 401:
        details["hint"] = _KEY_HINT
    elif status == 403:
        details["hint"] = _SCOPE_HINT
    elif hint:
        details["hint"] = hint
    if status == 422:
        return ValidationError(message, status=status, field=_field(message), **details)
    retry_after = parse_retry_after(response.headers.get("retry-after")) if status == 429 else None
    return error_for_status(status, message, retry_after=retry_after, **details)


def _message(response: httpx.Response) -> tuple[str, str | None]:
    text = response.text.strip()
    if not text:
        return status_line(response), None
    try:
        data = json.loads(text)
    except ValueError:
        if text.startswith("<"):
            return f"{status_line(response)} (an HTML page, not an API error)", _HTML_HINT
        return text[:_MAX_TEXT], None
    if isinstance(data, dict):
        for key in ("error", "message", "errors"):
            value = data.get(key)
            if value:
                return (value if isinstance(value, str) else json.dumps(value))[:_MAX_TEXT], None
    return status_line(response), None


def _field(message: str) -> str | None:
    """The field a 422 message names, when it starts with one (`Name can't be blank`, `custom_fields must ...`)."""
    if message.startswith("custom_fields"):
        return "custom_fields"
    first = message.split(" ", 1)[0]
    return first.lower() if first[:1].isupper() and first.isalpha() else None
