"""The configuration screens (`cwsync.console.config`, #14), included here so `cwsync.console.app` finds them."""

from __future__ import annotations

from fastapi import APIRouter

from cwsync.console.config import catalog, filters, hudu, integrations, mappings

router = APIRouter()
for _module in (integrations, mappings, filters, hudu, catalog):
    router.include_router(_module.router)
