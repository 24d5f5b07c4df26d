"""One TLS context for the sandbox's outgoing deliveries (callbacks, webhooks).

httpx loads the CA bundle into a new `ssl.SSLContext` for every client (~50 ms of CPU); a delivery opens a client
per post, so each callback or webhook paid that. Shared here (the sandbox does not import the product's own).
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context the sandbox's clients share."""
    return httpx.create_ssl_context()
