"""Company-type priority (SB-2): a company with several ConnectWise types takes the highest-priority one.

Pure functions over type names; the ordered list comes from `syncs.catalog.company_type_priority` (default
`DEFAULT_COMPANY_TYPE_PRIORITY`: Customer over Prospect, as the seeds' example). In core because both the HubSpot sync
(company shapes) and the catalog's quote workflow use it; `cwsync.core.priority` re-exports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cwsync.config.catalog import DEFAULT_COMPANY_TYPE_PRIORITY

__all__ = ["company_type_names", "order_types", "pick_company_type"]


_RANKS: dict[tuple[str, ...], dict[str, int]] = {}
"""Each priority list's rank of a (stripped, lower-cased) name, made once per list (`order_types` runs per company)."""


def order_types(types: Iterable[str], priority: Sequence[str] = DEFAULT_COMPANY_TYPE_PRIORITY) -> list[str]:
    """The type names, highest priority first (names the list does not know keep their order, after the known)."""
    names = [t for t in types if t]
    if len(names) < 2:
        return names
    key = priority if type(priority) is tuple else tuple(priority)
    rank = _RANKS.get(key)
    if rank is None:
        rank = {name.strip().lower(): n for n, name in enumerate(key)}
        if len(_RANKS) < 64:
            _RANKS[key] = rank
    return sorted(names, key=lambda t: rank.get(t.strip().lower(), len(rank)))


def pick_company_type(types: Iterable[str], priority: Sequence[str] = DEFAULT_COMPANY_TYPE_PRIORITY) -> str | None:
    """The one type a company is carried as: its highest-priority type, or None when it has none."""
    ordered = order_types(types, priority)
    return ordered[0] if ordered else None


def company_type_names(company: Mapping[str, Any]) -> list[str]:
    """The type names of a ConnectWise company record (`types: [{id, name}]`)."""
    return [str(t["name"]) for t in company.get("types") or [] if isinstance(t, Mapping) and t.get("name")]
