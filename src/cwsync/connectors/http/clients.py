"""The process's HTTP clients share one TLS context.

httpx builds a new `ssl.SSLContext` for every `AsyncClient` and loads the whole CA bundle into it: about 50 ms of
CPU each. A scheduled run, a callback job and every command open their clients anew, so that cost came back with
each of them (in the test suite, a sixth of a deletion case's CPU). `new_client` hands every client the same
context, built once the way httpx builds its default (certifi's bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when
set). An `SSLContext` may be shared by any number of connections.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

__all__ = ["new_client", "tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every client of this process uses (built on first use)."""
    return httpx.create_ssl_context()


def new_client(**options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with these options and the shared TLS context (unless `verify` is given)."""
    options.setdefault("verify", tls_context())
    return httpx.AsyncClient(**options)
