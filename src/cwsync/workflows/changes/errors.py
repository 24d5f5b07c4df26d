"""Errors of the change workflow, grouped by what to do next.

::

    ChangeError
     ├── SetupError          the configuration does not fit ConnectWise (unknown board, status, company): fix it
     └── ChangeRefused       this request cannot be done now (out of order, wrong board, unknown change ...):
                             `code` says which, `reason` says why; nothing was written

ConnectWise API errors (`cwsync.connectors.http.CwsyncApiError`) pass through unchanged.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ChangeError", "ChangeRefused", "RefusalCode", "SetupError"]

RefusalCode = Literal[
    "unknown_change",
    "unknown_company",
    "ticket_not_found",
    "board_not_allowed",
    "company_mismatch",
    "already_linked",
    "out_of_order",
    "event_id_reused",
    "busy",
    "unknown_member",
    "unknown_device",
    "ambiguous_device",
    "devices_not_configured",
]


class ChangeError(Exception):
    """Base of the change workflow's own errors."""


class SetupError(ChangeError):
    """The `changes:` configuration names something ConnectWise does not have; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("changes configuration does not match ConnectWise:\n" + "\n".join(f"- {p}" for p in problems))


class ChangeRefused(ChangeError):
    """A request refused before anything was written."""

    def __init__(self, code: RefusalCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)
