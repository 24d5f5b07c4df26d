"""The configuration screens (`cwsync.console.config`, #14), included here so `cwsync.console.app` finds them."""

from __future__ import annotations

from fastapi import APIRouter

from cwsync.console.config import catalog, changes, filters, hudu, integrations, mappings, versions

router = APIRouter()
for _module in (integrations, mappings, filters, hudu, catalog, changes, versions):
    router.include_router(_module.router)
