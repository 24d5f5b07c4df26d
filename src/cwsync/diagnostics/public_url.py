"""`cwsync doctor --public-url`: can HubSpot (webhooks) and ConnectWise (callbacks) reach `server.public_url`?

Two checks, run from where doctor runs (so run it from outside your network to test a tunnel or a proxy):

1. **Public URL answers**: `GET <public_url>/livez` answers 200 (`cwsync serve` runs behind it).
2. **Public URL usable by HubSpot**: HubSpot delivers webhooks only to a public `https` URL; a loopback or private
   address, or plain http, cannot receive them. Skipped when the HubSpot connection is itself on loopback (the
   sandbox delivers there).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from cwsync.connectors.http.clients import new_client
from cwsync.diagnostics.connectwise import CheckResult

__all__ = ["check_public_url"]

_FIX_SERVE = (
    "start `cwsync serve` (it answers /livez), and make server.public_url the address it is reached at from the "
    "internet (a TLS reverse proxy or a tunnel in front of it); see docs/hubspot.md"
)


def _is_local(host: str) -> bool:
    if host in ("localhost", "") or host.endswith(".localhost") or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


async def check_public_url(
    public_url: str, *, hubspot_base_url: str | None, http: httpx.AsyncClient | None = None
) -> list[CheckResult]:
    """The public URL's checks (see the module docstring)."""
    base = public_url.rstrip("/")
    results: list[CheckResult] = []
    client = http or new_client(timeout=10, follow_redirects=False)
    try:
        answer = await client.get(f"{base}/livez")
        if answer.status_code == 200:
            results.append(
                CheckResult("Public URL answers", "ok", f"{base}/livez answered 200", endpoint=f"{base}/livez")
            )
        else:
            detail = f"{base}/livez answered {answer.status_code}, not cwsync's 200"
            results.append(
                CheckResult("Public URL answers", "fail", detail, fix=_FIX_SERVE, http_status=answer.status_code)
            )
    except httpx.HTTPError as exc:
        detail = f"nothing answers at {base}: {type(exc).__name__}: {exc}"
        results.append(CheckResult("Public URL answers", "fail", detail, fix=_FIX_SERVE))
    finally:
        if http is None:
            await client.aclose()
    parts = urlsplit(base)
    hubspot_host = urlsplit(hubspot_base_url).hostname if hubspot_base_url else None
    if hubspot_base_url is None:
        results.append(CheckResult("Public URL usable by HubSpot", "skipped", "no HubSpot connection"))
    elif hubspot_host is not None and _is_local(hubspot_host):
        results.append(
            CheckResult(
                "Public URL usable by HubSpot", "skipped", "the HubSpot sandbox is on loopback: it delivers there"
            )
        )
    elif parts.scheme != "https" or _is_local(parts.hostname or ""):
        detail = f"{base} is not a public https URL: HubSpot cannot deliver webhooks to it"
        fix = "serve cwsync behind a TLS reverse proxy or tunnel and set server.public_url to its https address"
        results.append(CheckResult("Public URL usable by HubSpot", "fail", detail, fix=fix))
    else:
        results.append(CheckResult("Public URL usable by HubSpot", "ok", f"{base} is a public https URL"))
    return results
