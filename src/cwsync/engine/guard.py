"""The mass-delete breaker: a reconciliation that would delete most of a pair's records stops instead."""

from __future__ import annotations

from cwsync.connectors.http import CwsyncApiError

__all__ = ["MIN_GUARDED", "MassDeleteError", "check_mass_delete"]

MIN_GUARDED = 10
"""Below this many linked records the breaker stays out of the way (a tiny table can lose most of itself)."""


class MassDeleteError(CwsyncApiError):
    """A reconciliation would delete too many records at once: stop and ask (a fatal error for the run)."""


def check_mass_delete(
    pair: str, gone: int, total: int, share: float, *, setting: str, what: str = "archived", side: str = "ConnectWise"
) -> None:
    """Raise `MassDeleteError` when `gone` of `total` records is more than `share` of them.

    `setting` names the configuration key that raises the share, for the message.
    """
    if total >= MIN_GUARDED and gone > share * total:
        raise MassDeleteError(
            f"{pair}: {gone} of {total} linked {side} records are gone; more than {share:.0%} looks like a"
            f" broken read or a permission change, not deletions, so nothing was {what}."
            f" Check `cwsync doctor`; if the deletions are real, raise {setting}."
        )
