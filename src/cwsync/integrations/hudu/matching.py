"""Company matching (HU-2), pure: which Hudu company each ConnectWise company probably is.

Suggestions come from the identifier (a Hudu company's `id_number` equal to the ConnectWise company identifier),
the normalised name (case, punctuation and legal suffixes such as "Inc." or "LLC" ignored) and, weaker, a similar
name. Only the first two are "exact": `cwsync hudu match --auto` accepts those and nothing else.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Candidate", "Decision", "DecisionKind", "Suggestion", "normalize_name", "suggest"]

DecisionKind = Literal["match", "create", "unmatched"]
Reason = Literal["identifier", "name", "similar"]
SIMILAR = 0.85
"""The least name similarity (difflib ratio on normalised names) that is still suggested."""
_SUFFIXES = frozenset(
    {
        "inc",
        "incorporated",
        "llc",
        "llp",
        "ltd",
        "limited",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "pty",
        "gmbh",
    }
)


def normalize_name(name: str) -> str:
    """`"Acme Dental Group, Inc."` → `"acme dental group"`: lowercase words, `&` as `and`, legal suffixes dropped."""
    words = re.findall(r"[a-z0-9]+", name.lower().replace("&", " and "))
    while words and words[-1] in _SUFFIXES:
        words.pop()
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A Hudu company suggested for a ConnectWise company, and why."""

    hudu_id: int
    name: str
    reason: Reason
    score: float

    @property
    def exact(self) -> bool:
        """Identifier or normalised-name equality (what `--auto` accepts)."""
        return self.reason in ("identifier", "name")


@dataclass(frozen=True, slots=True)
class Decision:
    """What was decided for a ConnectWise company: matched to `hudu_id`, create a new Hudu company, or leave it."""

    cw_id: int
    kind: DecisionKind
    hudu_id: int | None = None
    by: str = "cli"
    at: str = ""

    def __post_init__(self) -> None:
        if (self.kind == "match") != (self.hudu_id is not None):
            raise ValueError("a match decision names a Hudu company id; create and unmatched name none")


@dataclass(slots=True)
class Suggestion:
    """One ConnectWise company: its candidates (best first) and the decision already taken, if any."""

    cw_id: int
    cw_name: str
    cw_identifier: str
    candidates: list[Candidate] = field(default_factory=list)
    decision: Decision | None = None

    @property
    def best_exact(self) -> Candidate | None:
        """The best exact candidate, when exactly one Hudu company is an exact candidate."""
        exact = [c for c in self.candidates if c.exact]
        return exact[0] if len({c.hudu_id for c in exact}) == 1 else None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (CLI `--json`, REST API)."""
        decision = self.decision
        return {
            "connectwise_id": self.cw_id,
            "name": self.cw_name,
            "identifier": self.cw_identifier,
            "candidates": [
                {"hudu_id": c.hudu_id, "name": c.name, "reason": c.reason, "score": round(c.score, 3)}
                for c in self.candidates
            ],
            "decision": None
            if decision is None
            else {"kind": decision.kind, "hudu_id": decision.hudu_id, "by": decision.by, "at": decision.at},
        }


def _candidates(company: Mapping[str, Any], hudu: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    identifier = str(company.get("identifier") or "").strip().lower()
    name = normalize_name(str(company.get("name") or ""))
    found: dict[int, Candidate] = {}
    for other in hudu:
        hudu_id, other_name = int(other["id"]), str(other.get("name") or "")
        normalized = normalize_name(other_name)
        if identifier and str(other.get("id_number") or "").strip().lower() == identifier:
            candidate = Candidate(hudu_id, other_name, "identifier", 1.0)
        elif name and normalized == name:
            candidate = Candidate(hudu_id, other_name, "name", 1.0)
        else:
            score = difflib.SequenceMatcher(None, name, normalized).ratio() if name and normalized else 0.0
            if score < SIMILAR:
                continue
            candidate = Candidate(hudu_id, other_name, "similar", score)
        found[hudu_id] = candidate
    order = {"identifier": 0, "name": 1, "similar": 2}
    return sorted(found.values(), key=lambda c: (order[c.reason], -c.score, c.hudu_id))


def suggest(
    companies: Iterable[Mapping[str, Any]],
    hudu_companies: Iterable[Mapping[str, Any]],
    decisions: Mapping[int, Decision],
) -> list[Suggestion]:
    """A suggestion per ConnectWise company (decided ones too, with their decision), in ConnectWise id order.

    Hudu companies already matched to another ConnectWise company are not suggested again.
    """
    taken = {d.hudu_id for d in decisions.values() if d.hudu_id is not None}
    hudu = [h for h in hudu_companies if int(h["id"]) not in taken]
    out = []
    for company in sorted(companies, key=lambda c: int(c["id"])):
        cw_id = int(company["id"])
        decision = decisions.get(cw_id)
        candidates = [] if decision is not None else _candidates(company, hudu)
        out.append(
            Suggestion(
                cw_id, str(company.get("name") or ""), str(company.get("identifier") or ""), candidates, decision
            )
        )
    return out
