"""Segment names: a vocabulary, each word with a rule on the segment's figures against all learners.

==========================  ===================================================================
word                        rule
==========================  ===================================================================
Early-career                median experience at or below all learners' 25th percentile
Senior                      median experience at or above all learners' 75th percentile
Mid-career                  otherwise
low pay                     at least half the segment in all learners' bottom pay quartile
top pay                     at least half the segment in the top pay quartile
mid pay                     otherwise
tier-1 companies            at least half the segment at tier-1 companies
lower-paying companies      at least half at tier-3 companies
<family> roles              the role family with the largest share among known titles, when
                            its lift over all learners' known titles is at least 1.2
paid above / below          at least 60 % above / below colleagues with the same title at
same-title colleagues       their company (company x title peers)
==========================  ===================================================================

A name is the experience word and the pay word, then the most distinctive qualifier that fired
(companies, role, peers; ordered by how far the figure is past its threshold); while two names
are the same, each gets its next qualifier; a name still shared ends with its id. The same
segment always gets the same words, and ``profiles.json`` keeps each word's rule and the figure
that met it (docs/recommendations.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from training.insights.wording import lpa_text, pct_text
from training.runtime.tracks import TRACK_NAMES

__all__ = [
    "HALF",
    "PEERS_SHARE",
    "ROLE_LIFT",
    "Word",
    "name_profiles",
    "name_words",
]

#: The share of a segment a pay or company word needs.
HALF = 0.5
#: The lift over all learners' known titles a role family's word needs.
ROLE_LIFT = 1.2
#: The share paid above (below) company x title peers a peers word needs.
PEERS_SHARE = 0.6


@dataclass(frozen=True)
class Word:
    """One word of a segment name, the rule that gives it and the figure that met the rule."""

    word: str
    kind: str
    rule: str
    figure: str
    strength: float  # how far the figure is past its threshold (1 = at it); orders qualifiers

    def to_dict(self) -> dict[str, str]:
        """The word as ``profiles.json`` keeps it: word, kind, rule and figure."""
        return {"word": self.word, "kind": self.kind, "rule": self.rule, "figure": self.figure}


def _experience_word(profile: Mapping[str, Any], population: Mapping[str, Any]) -> Word:
    years = profile["center"]["years_experience"]
    p25, p75 = population["years_experience"]["p25"], population["years_experience"]["p75"]
    if years <= p25:
        return Word(
            "Early-career",
            "experience",
            "median experience at or below the 25th percentile of all learners",
            f"median {years:g} years; all learners' 25th percentile {p25:g}",
            1.0,
        )
    if years >= p75:
        return Word(
            "Senior",
            "experience",
            "median experience at or above the 75th percentile of all learners",
            f"median {years:g} years; all learners' 75th percentile {p75:g}",
            1.0,
        )
    return Word(
        "Mid-career",
        "experience",
        "median experience between the 25th and 75th percentiles of all learners",
        f"median {years:g} years; all learners' 25th-75th percentiles {p25:g}-{p75:g}",
        1.0,
    )


def _pay_word(profile: Mapping[str, Any], population: Mapping[str, Any]) -> Word:
    bottom, top = profile["pay_quartile_shares"]["bottom"], profile["pay_quartile_shares"]["top"]
    low_lpa, high_lpa = population["ctc_lpa"]["p25"], population["ctc_lpa"]["p75"]
    if bottom >= HALF:
        return Word(
            "low pay",
            "pay",
            "at least half in the bottom pay quartile of all learners",
            f"{pct_text(bottom)} earn {lpa_text(low_lpa)} or less",
            bottom / HALF,
        )
    if top >= HALF:
        return Word(
            "top pay",
            "pay",
            "at least half in the top pay quartile of all learners",
            f"{pct_text(top)} earn {lpa_text(high_lpa)} or more",
            top / HALF,
        )
    return Word(
        "mid pay",
        "pay",
        "fewer than half in either the bottom or the top pay quartile",
        f"{pct_text(bottom)} in the bottom quartile, {pct_text(top)} in the top",
        1.0,
    )


def _companies_word(profile: Mapping[str, Any]) -> Word | None:
    tiers = profile["company_tier_shares"]
    if tiers.get("tier 1", 0.0) >= HALF:
        return Word(
            "tier-1 companies",
            "companies",
            "at least half at tier-1 (best-paying) companies",
            f"{pct_text(tiers['tier 1'])} at tier-1 companies",
            tiers["tier 1"] / HALF,
        )
    if tiers.get("tier 3", 0.0) >= HALF:
        return Word(
            "lower-paying companies",
            "companies",
            "at least half at tier-3 (lower-paying) companies",
            f"{pct_text(tiers['tier 3'])} at tier-3 companies",
            tiers["tier 3"] / HALF,
        )
    return None


def _role_word(profile: Mapping[str, Any]) -> Word | None:
    family = profile["dominant_track"]
    if family is not None and family["lift"] >= ROLE_LIFT:
        return Word(
            f"{TRACK_NAMES.get(family['name'], family['name'])} roles",
            "role",
            f"the commonest role family among known titles, {ROLE_LIFT:g}x or more as "
            "common as among all learners",
            f"{pct_text(family['share'])} of known titles, {family['lift']:.2f}x all learners'",
            family["lift"] / ROLE_LIFT,
        )
    return None


def _peers_word(profile: Mapping[str, Any]) -> Word | None:
    flags = profile["peer_flags"]["designation"]
    if flags["above"] >= PEERS_SHARE:
        return Word(
            "paid above same-title colleagues",
            "peers",
            f"at least {pct_text(PEERS_SHARE)} paid above colleagues with the same title at "
            "their company",
            f"{pct_text(flags['above'])} above their company x title peers",
            flags["above"] / PEERS_SHARE,
        )
    if flags["below"] >= PEERS_SHARE:
        return Word(
            "paid below same-title colleagues",
            "peers",
            f"at least {pct_text(PEERS_SHARE)} paid below colleagues with the same title at "
            "their company",
            f"{pct_text(flags['below'])} below their company x title peers",
            flags["below"] / PEERS_SHARE,
        )
    return None


def name_words(profile: Mapping[str, Any], population: Mapping[str, Any]) -> list[Word]:
    """The words a profile earns, by the vocabulary's rules (module docstring), in name order.

    Experience and pay always give a word; companies, role and peers only when their rule fires.

    Parameters
    ----------
    profile : mapping
        A segment (or macro-segment) profile, names excluded
        (:func:`training.insights.profiles.profile_from_figures`).
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).

    Returns
    -------
    list of Word
        The experience word, the pay word, then the qualifiers that fired, the one furthest
        past its threshold first.
    """
    fired = (_companies_word(profile), _role_word(profile), _peers_word(profile))
    qualifiers = [word for word in fired if word is not None]
    qualifiers.sort(key=lambda w: -w.strength)
    return [_experience_word(profile, population), _pay_word(profile, population), *qualifiers]


def _compose(words: Sequence[Word]) -> str:
    first, *rest = (w.word for w in words)
    return ", ".join([first, *rest])


def name_profiles(profiles: list[dict[str, Any]], population: Mapping[str, Any]) -> None:
    """Name every profile in place.

    A name is the experience and pay words, then the most distinctive qualifier; more
    qualifiers, most distinctive first, while two names are the same; the id last when names
    are still shared.

    Parameters
    ----------
    profiles : list of dict
        Profiles of one level (segments, or macro-segments), each with its ``id``. Sets
        ``name`` and ``name_words`` (each word with its rule and the figure that met it).
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    """
    earned = [name_words(p, population) for p in profiles]
    used = [min(len(w), 3) for w in earned]
    while True:
        names = [_compose(w[:u]) for w, u in zip(earned, used, strict=True)]
        clashes = {n for n in names if names.count(n) > 1}
        grow = [i for i, n in enumerate(names) if n in clashes and used[i] < len(earned[i])]
        if not grow:
            break
        for i in grow:
            used[i] += 1
    for profile, words, count, name in zip(profiles, earned, used, names, strict=True):
        profile["name"] = name if name not in clashes else f"{name} (#{profile['id']})"
        profile["name_words"] = [w.to_dict() for w in words[:count]]
