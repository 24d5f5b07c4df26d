"""Which of an integration's object or data types a manual run takes (Salesbuildr's "select the data types to sync",
Hudu's per-card re-sync): one parser for every sync command and API.

`select_types(["companies,contacts"], valid)` → `["companies", "contacts"]` in the integration's order; an unknown
name is refused with the valid ones named (`UnknownTypeError`, a ValueError).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["UnknownTypeError", "select_types"]


class UnknownTypeError(ValueError):
    """A type name the integration does not have (or has not enabled): the message names the valid ones."""


def select_types(
    wanted: Iterable[str] | str | None, valid: Sequence[str], *, what: str = "object", off: Iterable[str] = ()
) -> list[str]:
    """The types named in `wanted` (each entry may be a comma-separated list; any case), in `valid`'s order; an
    empty list when none is named (the caller runs every type). `off`: types the integration has but the
    configuration switched off (named as such when asked for).

    Raises:
        UnknownTypeError: a name not in `valid`, naming them and the valid ones.
    """
    entries = [wanted] if isinstance(wanted, str) else list(wanted or ())
    names = [name.strip().lower() for entry in entries for name in entry.split(",") if name.strip()]
    known = {v.lower(): v for v in valid}
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    disabled = [name for name in unknown if name in {o.lower() for o in off}]
    if disabled:
        raise UnknownTypeError(
            f"{', '.join(repr(d) for d in disabled)} switched off in the configuration: enable it, or use"
            f" {', '.join(valid) or '(none enabled)'}"
        )
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise UnknownTypeError(
            f"unknown {what}{plural} {', '.join(repr(u) for u in unknown)}: use {', '.join(valid) or '(none enabled)'}"
        )
    chosen = {known[name] for name in names}
    return [v for v in valid if v in chosen]
