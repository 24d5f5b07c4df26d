"""ConnectWise error bodies → the shared error tree (`cwsync.connectors.http.errors`).

The documented body is `ErrorResponseMessage {code, message, errors: [{code, message, resource, field}]}`;
a 429 comes as `{"error", "message"}`; a bad codebase as the plain text `Cannot route. Codebase/company is
invalid`; proxies and the web UI answer with HTML or nothing. Each still gives a clean error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from cwsync.connectors.http import (
    AmbiguousWriteError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    CwsyncApiError,
    FatalError,
    NotFoundError,
    PaginationLoopError,
    PermissionDeniedError,
    RateLimitedError,
    RecordError,
    RetriableError,
    ServerError,
    TransportError,
    ValidationError,
    error_for_status,
    parse_retry_after,
    redact_url,
)
from cwsync.connectors.http.errors import status_line

__all__ = [
    "CANNOT_ROUTE",
    "AmbiguousWriteError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "CwsyncApiError",
    "FatalError",
    "NotFoundError",
    "PaginationLoopError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RecordError",
    "RetriableError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "error_from_response",
    "has_error_code",
]

CANNOT_ROUTE = "CannotRoute"
"""The `code` given to the plain-text 404 `Cannot route. Codebase/company is invalid`."""

REQUEST_ID_HEADER = "x-cw-request-id"
_MAX_TEXT = 300

_KEYS_HINT = (
    "Check public_key/private_key and company_id: the keys belong to an API member "
    "(System > Members > API Members > API Keys) of that company."
)
_CLIENT_ID_HINT = "Register the integration at developer.connectwise.com/ClientID and set client_id to it."
_ROLE_HINT = "The API member's security role lacks access to this (System > Security Roles)."
_ROUTE_HINT = "The codebase or company is invalid: check company_id, or the site was upgraded to a new codebase."
_HTML_HINT = "A web page answered instead of the API: check that site is the ConnectWise host (not a proxy page)."
_SSL_HINT = "ConnectWise requires HTTPS: use an https:// site."


@dataclass(frozen=True, slots=True)
class _Body:
    message: str
    code: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    hint: str | None = None


def error_from_response(response: httpx.Response) -> CwsyncApiError:
    """The `CwsyncApiError` for a ConnectWise response with status ≥ 400."""
    status = response.status_code
    body = _parse(response)
    first = body.errors[0] if body.errors else {}
    details: dict[str, Any] = {
        "code": body.code,
        "field": first.get("field") or None,
        "request_id": response.headers.get(REQUEST_ID_HEADER),
        "method": response.request.method,
        "url": redact_url(response.request.url),
        "hint": body.hint or _hint_for(status, body.code),
    }
    if (body.code or "").lower() == "security":
        return ConfigurationError(body.message, status=status, **details)
    retry_after = parse_retry_after(response.headers.get("retry-after")) if status == 429 else None
    return error_for_status(status, body.message, errors=body.errors, retry_after=retry_after, **details)


def has_error_code(error: CwsyncApiError, code: str) -> bool:
    """True when a `ValidationError` lists a field error with this `code` (e.g. `ObjectExists`)."""
    wanted = code.lower()
    return isinstance(error, ValidationError) and any(
        str(item.get("code", "")).lower() == wanted for item in error.errors
    )


def _hint_for(status: int, code: str | None) -> str | None:
    if (code or "").lower() == "security":
        return _SSL_HINT
    if status == 401:
        return _CLIENT_ID_HINT if (code or "").lower() == "invalidclientid" else _KEYS_HINT
    if status == 403:
        return _ROLE_HINT
    if code == CANNOT_ROUTE:
        return _ROUTE_HINT
    return None


def _parse(response: httpx.Response) -> _Body:
    text = response.text.strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return _parse_text(response, text)
    if isinstance(data, dict):
        return _parse_json(response, data)
    return _Body(status_line(response))


def _parse_json(response: httpx.Response, data: dict[str, Any]) -> _Body:
    code = data.get("code") if isinstance(data.get("code"), str) else None
    message = next((data[k] for k in ("message", "error") if isinstance(data.get(k), str) and data[k]), None)
    errors = [item for item in data.get("errors") or [] if isinstance(item, dict)]
    detail = next((str(item["message"]) for item in errors if item.get("message")), None)
    text = message or status_line(response)
    if detail and detail != text:
        text = f"{text}: {detail}"
    if len(errors) > 1:
        text = f"{text} (and {len(errors) - 1} more)"
    return _Body(text, code, errors)


def _parse_text(response: httpx.Response, text: str) -> _Body:
    if text.startswith("<"):
        return _Body(f"{status_line(response)} (an HTML page, not an API error)", hint=_HTML_HINT)
    if text.lower().startswith("cannot route"):
        return _Body(text[:_MAX_TEXT], CANNOT_ROUTE)
    if "ssl is required" in text.lower():
        return _Body(text[:_MAX_TEXT], "Security", hint=_SSL_HINT)
    return _Body(text[:_MAX_TEXT])
