"""HubSpot error bodies → the shared error tree (`cwsync.connectors.http.errors`).

The body is `{status, message, correlationId, category, subCategory?, errors?: [{message, code, in, context}],
context?, links?}` (notes A5); a 429 adds `policyName` (and `errorType` or `category`); batch 207 responses carry
the same shape per failed input (`StandardError`). Proxies answer with HTML or nothing; each still gives a clean
error. Three HubSpot subclasses add what the engine needs next::

    PermissionDeniedError ── HubSpotPermissionDeniedError   missing_scopes
    ConflictError         ── HubSpotConflictError           existing_id ("Contact already exists. Existing ID: 1")
    RateLimitedError      ── HubSpotRateLimitedError        policy_name (TEN_SECONDLY_ROLLING, SECONDLY, DAILY)
    AmbiguousWriteError   ── AmbiguousBatchWriteError       indices of the inputs whose create is unknown
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from cwsync.connectors.http import (
    AmbiguousWriteError,
    ConflictError,
    CwsyncApiError,
    PermissionDeniedError,
    RateLimitedError,
    RecordError,
    error_for_status,
    parse_retry_after,
    redact_url,
)
from cwsync.connectors.http.errors import status_line

__all__ = [
    "CORRELATION_HEADER",
    "AmbiguousBatchWriteError",
    "HubSpotConflictError",
    "HubSpotPermissionDeniedError",
    "HubSpotRateLimitedError",
    "error_from_response",
    "error_from_standard_error",
    "unattributed_error",
]

CORRELATION_HEADER = "x-hubspot-correlation-id"
_MAX_TEXT = 300
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)", re.IGNORECASE)
_QUOTED_PROPERTY = re.compile(r"[Pp]roperty\s+\\?\"([A-Za-z0-9_]+)\\?\"")
_SCOPE = re.compile(r"\b[a-z][a-z0-9-]*(?:\.[a-z0-9_-]+){1,4}\.(?:read|write|sensitive\.read|sensitive\.write)\b")
_FIELD_KEYS = ("propertyName", "property", "propertyNames", "name")
_POLICY_WINDOWS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
_CATEGORY_STATUS = {
    "VALIDATION_ERROR": 400,
    "INVALID_AUTHENTICATION": 401,
    "MISSING_SCOPES": 403,
    "OBJECT_NOT_FOUND": 404,
    "CONFLICT": 409,
    "OBJECT_ALREADY_EXISTS": 409,
    "RATE_LIMITS": 429,
}

_TOKEN_HINT = (
    "Check the private app token (HubSpot: Settings > Integrations > Private apps > your app > Auth): "
    "it may be mistyped, rotated or revoked, or belong to another account."
)
_DAILY_HINT = "The account's daily API limit is spent; it resets at midnight in the account's time zone."
_HTML_HINT = "A web page answered instead of the HubSpot API: check base_url (a proxy or login page?)."


class HubSpotPermissionDeniedError(PermissionDeniedError):
    """403: the token lacks scopes; `missing_scopes` lists them when HubSpot names them."""

    def __init__(self, message: str, *, missing_scopes: Sequence[str] = (), **details: Any) -> None:
        super().__init__(message, **details)
        self.missing_scopes = list(missing_scopes)


class HubSpotConflictError(ConflictError):
    """409: e.g. a contact with this email exists; `existing_id` is that record's id when the message names it."""

    def __init__(self, message: str, *, existing_id: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.existing_id = existing_id


class HubSpotRateLimitedError(RateLimitedError):
    """429; `policy_name` says which limit (`TEN_SECONDLY_ROLLING`, `SECONDLY` or `DAILY`)."""

    def __init__(self, message: str, *, policy_name: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.policy_name = policy_name


class AmbiguousBatchWriteError(AmbiguousWriteError):
    """A batch create's response was lost and the inputs could not be looked up.

    `indices` are the positions (in the caller's `inputs`) whose outcome is unknown; `unsent` those not sent
    because the batch stopped here; `completed` is the `BatchResult` of everything before.
    """

    def __init__(
        self,
        message: str,
        *,
        indices: Sequence[int] = (),
        unsent: Sequence[int] = (),
        completed: Any = None,
        **details: Any,
    ) -> None:
        super().__init__(message, **details)
        self.indices = list(indices)
        self.unsent = list(unsent)
        self.completed = completed


@dataclass(frozen=True, slots=True)
class _Body:
    """What an error body says, whatever shape it came in."""

    message: str
    category: str | None = None
    code: str | None = None
    field_name: str | None = None
    correlation_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    policy_name: str | None = None
    hint: str | None = None


def error_from_response(response: httpx.Response) -> CwsyncApiError:
    """The `CwsyncApiError` for a HubSpot response with status ≥ 400."""
    body = _parse(response)
    request_id = body.correlation_id or response.headers.get(CORRELATION_HEADER)
    where = {"method": response.request.method, "url": redact_url(response.request.url)}
    retry_after = _retry_after(response, body) if response.status_code == 429 else None
    return _build(response.status_code, body, request_id=request_id, retry_after=retry_after, **where)


def error_from_standard_error(
    item: Mapping[str, Any], *, request_id: str | None = None, method: str | None = None, url: str | None = None
) -> CwsyncApiError:
    """The error for one entry of a batch response's `errors` array (its `category` stands in for a status)."""
    body = _from_json(dict(item), fallback=str(item.get("message") or "the batch input failed"))
    status = _status_of(item)
    return _build(status, body, request_id=body.correlation_id or request_id, method=method, url=url)


def _build(
    status: int, body: _Body, *, request_id: str | None, retry_after: float | None = None, **where: Any
) -> CwsyncApiError:
    details: dict[str, Any] = {"code": body.code or body.category, "request_id": request_id, **where}
    if status == 401:
        details["hint"] = body.hint or _TOKEN_HINT
    if status == 403:
        return _permission_error(body, status, details)
    if status == 409:
        found = _EXISTING_ID.search(body.message)
        return HubSpotConflictError(body.message, status=status, existing_id=found and found.group(1), **details)
    if status == 429:
        hint = _DAILY_HINT if body.policy_name == "DAILY" else None
        details["code"] = body.policy_name or details["code"]
        return HubSpotRateLimitedError(
            body.message, status=status, retry_after=retry_after, policy_name=body.policy_name, hint=hint, **details
        )
    if status == 400:
        details["field"] = body.field_name
    if body.hint and "hint" not in details:
        details["hint"] = body.hint
    return error_for_status(status, body.message, errors=body.errors, **details)


def _permission_error(body: _Body, status: int, details: dict[str, Any]) -> HubSpotPermissionDeniedError:
    scopes = body.scopes
    message = body.message if not scopes else f"{body.message} (missing scopes: {', '.join(scopes)})"
    wanted = ", ".join(scopes) if scopes else "the scopes this call needs (crm.objects.<type>.read/.write ...)"
    hint = f"Grant {wanted} to the private app (Settings > Integrations > Private apps > your app > Scopes), commit."
    return HubSpotPermissionDeniedError(message, status=status, missing_scopes=scopes, hint=hint, **details)


def _status_of(item: Mapping[str, Any]) -> int:
    category = str(item.get("category") or "").upper()
    status = item.get("status")
    if isinstance(status, int) and status >= 400:
        return status
    if isinstance(status, str) and status.isdigit() and int(status) >= 400:
        return int(status)
    return _CATEGORY_STATUS.get(category, 422)  # 422: "this input failed", a plain RecordError


def _retry_after(response: httpx.Response, body: _Body) -> float | None:
    """`Retry-After` when sent, else the interval header, else the policy's window (none for DAILY)."""
    header = parse_retry_after(response.headers.get("retry-after"))
    if header is not None:
        return header
    interval = response.headers.get("x-hubspot-ratelimit-interval-milliseconds", "")
    if interval.isdigit() and int(interval) > 0:
        return int(interval) / 1000
    return _POLICY_WINDOWS.get(body.policy_name or "")


# -- body parsing ------------------------------------------------------------------------------------------------


def _parse(response: httpx.Response) -> _Body:
    text = response.text.strip()
    if not text:
        return _Body(status_line(response))
    try:
        data = json.loads(text)
    except ValueError:
        if text.startswith("<"):
            return _Body(f"{status_line(response)} (an HTML page, not an API error)", hint=_HTML_HINT)
        return _Body(text[:_MAX_TEXT])
    return _from_json(data, fallback=status_line(response)) if isinstance(data, dict) else _Body(status_line(response))


def _from_json(data: dict[str, Any], *, fallback: str) -> _Body:
    message = _text(data.get("message")) or fallback
    errors = [item for item in data.get("errors") or [] if isinstance(item, dict)]
    embedded = _embedded_errors(message)
    detail_code = next((str(e["code"]) for e in errors if e.get("code")), None)
    detail_code = detail_code or next((str(e["error"]) for e in embedded if e.get("error")), None)
    category = _text(data.get("category")) or _text(data.get("errorType"))
    return _Body(
        message=message,
        category=category,
        code=detail_code or _text(data.get("subCategory")),
        field_name=_field(errors, embedded, message),
        correlation_id=_text(data.get("correlationId")) or _text(data.get("requestId")),
        errors=errors or embedded,
        scopes=_scopes(data, errors),
        policy_name=_text(data.get("policyName")),
    )


def _embedded_errors(message: str) -> list[dict[str, Any]]:
    """`Property values were not valid: [{"name": "x", "error": "INVALID_OPTION", ...}]`: the list after the colon."""
    start = message.find("[{")
    if start < 0:
        return []
    try:
        items = json.loads(message[start:])
    except ValueError:
        return []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _field(errors: list[dict[str, Any]], embedded: list[dict[str, Any]], message: str) -> str | None:
    for item in errors:
        context = item.get("context")
        if isinstance(context, dict) and (name := _first_of(context, _FIELD_KEYS)):
            return name
    for item in embedded:
        if isinstance(item.get("name"), str) and item["name"]:
            return str(item["name"])
    for text in [*(str(e.get("message", "")) for e in errors), message]:
        if found := _QUOTED_PROPERTY.search(text):
            return found.group(1)
    return None


def _first_of(context: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = context.get(key)
        if isinstance(value, list) and value and isinstance(value[0], str):
            return value[0]
        if isinstance(value, str) and value:
            return value
    return None


def _scopes(data: Mapping[str, Any], errors: list[dict[str, Any]]) -> list[str]:
    """Scope names from any `context` key that mentions scopes, else from the messages."""
    found: list[str] = []
    contexts = [data.get("context"), *(item.get("context") for item in errors)]
    for context in contexts:
        if isinstance(context, dict):
            for key, value in context.items():
                if "scope" in key.lower():
                    found += _scope_names(value)
        elif isinstance(context, str):
            found += _SCOPE.findall(context)
    if not found:
        texts = [str(data.get("message", "")), *(str(item.get("message", "")) for item in errors)]
        found = [name for text in texts for name in _SCOPE.findall(text)]
    return list(dict.fromkeys(found))


def _scope_names(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str) and item]
    return _SCOPE.findall(value) if isinstance(value, str) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def unattributed_error(count: int, errors: Sequence[CwsyncApiError]) -> RecordError:
    """A stand-in error for inputs the server reported no result for (and no error that names them)."""
    summary = "; ".join(error.message for error in errors[:3])
    text = f"the batch returned no result for this input (and {count} error(s) naming no input: {summary})"
    return RecordError(text if errors else "the batch returned no result for this input", code="NO_RESULT")
