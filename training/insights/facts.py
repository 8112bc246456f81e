"""What sets a segment apart from all learners: its figures scored by their z-score.

Every candidate fact is scored by its z-score against all learners (for a share, the difference
in shares over the spread of a yes/no figure with all learners' share): median experience,
median pay, the share at each company tier (among learners whose company is known, saying how
many that is), the share paid above or below company-and-title peers, the share paid at least
20 % under the median of their experience, and a track's share. A fact is distinctive from
:data:`DISTINCT_Z`. A share counted on fewer than
:data:`~training.insights.figures.FEW_LEARNERS` learners is no fact; a profile written before
tier figures counted known companies only (no ``company_known``) gives no tier fact, and so does
a segment where fewer than :data:`~training.insights.figures.MIN_KNOWN_SHARE` of the learners
have a known company (its tier shares speak for a minority of it). Facts are
plain text with the glossary words marked (:class:`Term`), so that the report links them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from training.insights.figures import FEW_LEARNERS, MIN_KNOWN_SHARE
from training.insights.wording import known_text, lift_text, lpa_text, ordinal, pct_unbroken
from training.runtime.tracks import TRACK_NAMES, UNKNOWN_TRACK

__all__ = [
    "DISTINCT_Z",
    "Fact",
    "Term",
    "distinctive_facts",
]

#: A fact sets a segment apart when its z-score against all learners is at least this.
DISTINCT_Z = 0.25
#: Company tiers in words.
_TIER_WORDS: dict[str, str] = {
    "tier 1": "tier-1 (best-paying)",
    "tier 2": "tier-2 (mid-paying)",
    "tier 3": "tier-3 (lower-paying)",
}


@dataclass(frozen=True)
class Term:
    """A word of a fact with an entry in the report's glossary: the entry and the words shown."""

    anchor: str
    label: str


@dataclass(frozen=True)
class Fact:
    """One figure that sets a segment apart: its z-score, and its words.

    ``pieces`` are plain text and glossary words, in reading order; each fact quotes the
    segment's figure and what it is compared with.
    """

    score: float
    pieces: tuple[str | Term, ...]

    @property
    def text(self) -> str:
        """The fact as plain text (glossary words as shown)."""
        return "".join(p if isinstance(p, str) else p.label for p in self.pieces)


def _share_z(share: float, base: float) -> float:
    """The z-score of a yes/no figure: the difference in shares over its spread at ``base``."""
    if not 0.0 < base < 1.0:
        return 0.0
    return (share - base) / math.sqrt(base * (1.0 - base))


def _median_facts(segment: Mapping[str, Any], population: Mapping[str, Any]) -> list[Fact]:
    z = segment["feature_z"]
    years = segment["center"]["years_experience"]
    return [
        Fact(
            z.get("years_experience", 0.0),
            (
                f"median {years:g} years of experience "
                f"(all learners: {population['years_experience']['p50']:g})",
            ),
        ),
        Fact(
            z.get("log_ctc", 0.0),
            (
                f"median pay {lpa_text(segment['center']['ctc_lpa'])}, the "
                f"{ordinal(segment['ctc_percentile'])} ",
                Term("percentile", "percentile"),
                " of all learners",
            ),
        ),
    ]


def _share_facts(segment: Mapping[str, Any], population: Mapping[str, Any]) -> list[Fact]:
    """Shares over all learners': company tiers, pay against peers and against experience."""
    facts = []
    known = int(segment.get("company_known", 0))
    known_share = float(segment.get("company_known_share", 0.0))
    base_known = float(population.get("company_known_share", 0.0))
    for tier, base in population["company_tier_shares"].items():
        share = segment["company_tier_shares"].get(tier, 0.0)
        if (
            share > base
            and tier in _TIER_WORDS
            and known >= FEW_LEARNERS
            and known_share >= MIN_KNOWN_SHARE
        ):
            pieces = (
                f"{known_text(share, known_share, unbroken=True)} at ",
                Term("tier", _TIER_WORDS[tier]),
                f" companies (all learners: {known_text(base, base_known, unbroken=True)})",
            )
            facts.append(Fact(_share_z(share, base), pieces))
    for side in ("above", "below"):
        share = segment["peer_flags"]["designation"][side]
        base = population["peer_flags"]["designation"][side]
        if share > base:
            words = (
                f"{pct_unbroken(share)} paid {side} colleagues with the same title at their "
                f"company (all learners: {pct_unbroken(base)})"
            )
            facts.append(Fact(_share_z(share, base), (words,)))
    share, base = segment["below_experience_share"], population["below_experience_share"]
    if share > base:
        words = (
            f"{pct_unbroken(share)} paid at least 20 % less than the median learner with their "
            f"experience (all learners: {pct_unbroken(base)})"
        )
        facts.append(Fact(_share_z(share, base), (words,)))
    return facts


def _family_facts(segment: Mapping[str, Any], population: Mapping[str, Any]) -> list[Fact]:
    """Tracks over-represented among the segment's known titles: the one definition of a track's
    share used by names, cards and the summary (share of known titles, lift over all learners'
    known titles)."""
    shares = segment.get("track_shares_known")
    bases = population.get("tracks_known")
    if not shares or not bases:  # an older profile: nothing quoted on another definition
        return []
    known = int(segment.get("known_titles", 0))
    facts = []
    for track, share in shares.items():
        base = float(bases.get(track, 0.0))
        if track == UNKNOWN_TRACK or base <= 0.0 or share <= base:
            continue
        if round(share * known) < FEW_LEARNERS:
            continue
        words = (
            f"{TRACK_NAMES.get(track, track)} {pct_unbroken(share)} of known titles (all "
            f"learners: {pct_unbroken(base)}), {lift_text(share / base)}x"
        )
        facts.append(Fact(_share_z(share, base), (words,)))
    return facts


def distinctive_facts(
    segment: Mapping[str, Any], population: Mapping[str, Any], *, top: int = 2
) -> list[Fact]:
    """What sets a segment apart from all learners, most distinctive first.

    Parameters
    ----------
    segment : mapping
        One segment of ``profiles.json``.
    population : mapping
        ``profiles.json``'s ``population`` (all learners).
    top : int, default=2
        The most facts returned.

    Returns
    -------
    list of Fact
        The ``top`` facts with ``|score| >= DISTINCT_Z``, largest ``|score|`` first (ties: in
        the order of the module docstring), each quoting the segment's figure and all
        learners'; empty when the segment is close to all learners on every figure.
    """
    candidates = [
        *_median_facts(segment, population),
        *_share_facts(segment, population),
        *_family_facts(segment, population),
    ]
    ranked = sorted(candidates, key=lambda fact: -abs(fact.score))
    return [fact for fact in ranked if abs(fact.score) >= DISTINCT_Z][:top]
