"""Segment names: the words of each segment's most distinctive figures, each with its rule.

A segment is formed from the model's inputs (the manifest's ``features``), so its name says
where it stands on them: each input gives a word when the segment's figure is at least
:data:`NAME_Z` standard deviations (a z-score) from all learners' *and* the plain figure the
word quotes points the same way. The track mix gives a word when one track is distinctive
among the segment's known titles. A name is the words of the largest ``|z|`` first, at most
:data:`MAX_WORDS`, one per input.

=====================================  =============================================================
word (as it reads first)               rule (z: the segment's mean against all learners', in SDs)
=====================================  =============================================================
Senior                                 experience z >= +0.25 and median experience at or above all
                                       learners' 75th percentile, and at least 2 years
                                       (:data:`EXPERIENCE_MARGIN`) above all learners' median
Experienced                            experience z >= +0.25 and median at least 2 years above all
                                       learners' median
Early-career                           experience z <= -0.25 and median at or below the 25th
                                       percentile, and at least 2 years below the median
Less experienced                       experience z <= -0.25 and median at least 2 years below all
                                       learners' median (5 against 6 is no word)
Underpaid for their experience         pay-vs-experience z <= -0.25 and more paid >= 20 % under the
                                       median at their experience than among all learners, and no
                                       pay-against-peers figure says the opposite (below)
Well-paid for their experience         pay-vs-experience z >= +0.25 and more paid >= 25 % over it,
                                       and no pay-against-peers figure says the opposite
Tier-1 / Mid-paying / Lower-paying     company tier (an ordinal of three levels, whose mean hides a
companies                              segment gathered in the middle tier): the tier most
                                       over-represented *among learners whose company is known*,
                                       its share's z >= +0.25, from at least 30 such learners, in
                                       a segment where at least half the companies are known
Top-paid / Higher-paid,                pay (when it is an input) z >= +0.25 and at least half in all
Low-paid / Lower-paid                  learners' top (bottom) pay quartile / median above (below)
                                       all learners'
many <track> titles                    the track (not "other" nor "unknown") most over-represented
                                       among known titles: share z >= +0.25, lift >= 1.2, from at
                                       least 30 learners, *and* a meaningful share: the segment's
                                       commonest known track, at least 25 %
                                       (:data:`TRACK_SHARE`) of its known titles
more <track> titles than elsewhere     the same track by lift alone (its share under 25 % or
                                       another track commoner): it is over-represented, not many
Above-average / Below-average <input>  any other input: its z alone
Typical                                no input at |z| >= 0.25
=====================================  =============================================================

**A name agrees with the figures beside it.** A word about pay for experience is dropped when
a pay-against-peers figure of the report contradicts it: "underpaid" when, against any peer
group (same company and title, same title, same company), the share paid *above* the peers'
median exceeds the share paid below by at least :data:`CONTRADICTS` (10 points, the margin the
report sets in bold); "well-paid" the other way round. A senior segment paid below young
learners' pay curve yet above its same-title colleagues is not "underpaid".

**A tier word holds for learners whose company is known, and says nothing when most are not.**
Its share counts known companies only, and it is given only when at least
:data:`MIN_KNOWN_SHARE` of the segment's learners have a known company: a segment whose
companies are mostly unknown gets no word about companies at all.

For a share the z-score is the difference from all learners' share over the spread of a yes/no
figure at all learners' share (:func:`share_z`), as in :mod:`training.insights.facts`.

**No two segments share their first word.** Each segment's first word is its most distinctive
figure; when two segments would open with the same word (two "Senior" segments), the first
words are assigned one to a segment so that the sum of their ``|z|`` is largest (the
assignment problem; a more general word of the same input, "Experienced" for a senior segment,
may open a name at half its ``|z|``), and the other words follow by ``|z|``. A segment left
without a word of its own is named by its id ("Segment 4, senior").

**A macro-segment's name holds for every member**: a word is used only when its rule holds on
the macro-segment's figures and on each of its segments' (its strength is the weakest of them),
so a macro-segment never reads "top pay" over a member that is not. With no word common to
all members it is named by them ("Segments 0 and 2").

A segment of fewer than :data:`~training.insights.figures.FEW_LEARNERS` learners has its name
marked. ``profiles.json`` keeps each word with its kind (the input it states), its rule and its
figure (docs/recommendations.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from training.config import DEFAULT_CLUSTER_FEATURES
from training.insights.figures import FEW_LEARNERS, MIN_KNOWN_SHARE
from training.insights.wording import known_text, lift_text, lpa_text, pct_text
from training.runtime.tracks import OTHER_TRACK, TRACK_NAMES, UNKNOWN_TRACK

__all__ = [
    "CONTRADICTS",
    "EXPERIENCE_MARGIN",
    "HALF",
    "MAX_WORDS",
    "MIN_KNOWN_SHARE",
    "NAME_Z",
    "ROLE_LIFT",
    "TRACK_SHARE",
    "TYPICAL",
    "Word",
    "contradiction",
    "held_words",
    "name_profiles",
    "name_words",
    "share_z",
]

#: A word needs its figure at least this many standard deviations from all learners'.
NAME_Z = 0.25
#: The share of a segment a "top-paid" / "low-paid" word needs in a pay quartile.
HALF = 0.5
#: The lift over all learners' known titles a track word needs.
ROLE_LIFT = 1.2
#: The share of known titles (and being the commonest known track) "many <track> titles" needs;
#: under it a distinctive track reads "more <track> titles than elsewhere".
TRACK_SHARE = 0.25
#: Years between a segment's median experience and all learners' an experience word needs: one
#: year (5 against 6) is within the spread of segments the heatmap shows alike.
EXPERIENCE_MARGIN = 2.0
#: A pay-for-experience word is contradicted when the share on the other side of a peer group's
#: median exceeds the share on its side by this much (the report's bold margin).
CONTRADICTS = 0.10
#: The peer groups of the pay-against-peers table, in words.
_PEER_GROUPS = {
    "designation": "colleagues with the same title at their company",
    "class": "learners with the same title",
    "tier": "colleagues at their company",
}
#: Words in a name, at most.
MAX_WORDS = 3
#: The word of a segment with no distinctive input.
TYPICAL = "Typical"


@dataclass(frozen=True)
class Word:
    """One word of a name: its text as it reads first in a name, the input (``kind``) it
    states, the rule that gives it, the figure that met the rule and its ``|z|``."""

    word: str
    kind: str
    rule: str
    figure: str
    strength: float

    @property
    def token(self) -> str:
        """Its first word, lower case: no two segment names open with the same one."""
        return self.word.split()[0].lower()

    def shown(self, first: bool) -> str:
        """The word as it reads in a name: its first letter lowered after the first word."""
        return self.word if first else self.word[:1].lower() + self.word[1:]

    def to_dict(self, first: bool = True) -> dict[str, str]:
        """The word as ``profiles.json`` keeps it: word (as shown), kind, rule and figure."""
        return {
            "word": self.shown(first),
            "kind": self.kind,
            "rule": self.rule,
            "figure": self.figure,
        }


def share_z(share: float, base: float) -> float:
    """The z-score of a yes/no figure: the difference in shares over its spread at ``base``."""
    if not 0.0 < base < 1.0:
        return 0.0
    return (share - base) / math.sqrt(base * (1.0 - base))


def _z(profile: Mapping[str, Any], name: str) -> float:
    return float(profile.get("feature_z", {}).get(name, 0.0))


def _experience(profile: Mapping[str, Any], population: Mapping[str, Any]) -> list[Word]:
    z = _z(profile, "years_experience")
    years = profile["center"]["years_experience"]
    q = population["years_experience"]
    figure = (
        f"median {years:g} years (all learners: {q['p50']:g}; 25th-75th percentiles "
        f"{q['p25']:g}-{q['p75']:g})"
    )
    out = []
    margin = f"at least {EXPERIENCE_MARGIN:g} years"
    if z >= NAME_Z and years >= q["p50"] + EXPERIENCE_MARGIN:
        if years >= q["p75"]:
            rule = (
                "experience z >= +0.25, median at or above all learners' 75th percentile and "
                f"{margin} above their median"
            )
            out.append(Word("Senior", "years_experience", rule, figure, abs(z)))
        rule = f"experience z >= +0.25, median {margin} above all learners' median"
        out.append(Word("Experienced", "years_experience", rule, figure, abs(z)))
    if z <= -NAME_Z and years <= q["p50"] - EXPERIENCE_MARGIN:
        if years <= q["p25"]:
            rule = (
                "experience z <= -0.25, median at or below all learners' 25th percentile and "
                f"{margin} below their median"
            )
            out.append(Word("Early-career", "years_experience", rule, figure, abs(z)))
        rule = f"experience z <= -0.25, median {margin} below all learners' median"
        out.append(Word("Less experienced", "years_experience", rule, figure, abs(z)))
    return out


def contradiction(profile: Mapping[str, Any], side: str) -> str | None:
    """The pay-against-peers figure that contradicts a pay word, in words (None: none does).

    Parameters
    ----------
    profile : mapping
        A segment profile with its ``peer_flags`` (group -> ``above``/``below`` shares).
    side : {"below", "above"}
        The side the word claims: ``"below"`` for "underpaid", ``"above"`` for "well-paid".

    Returns
    -------
    str or None
        The first peer group whose opposite share exceeds the claimed one by at least
        :data:`CONTRADICTS`, as a phrase ("67 % paid above learners with the same title,
        25 % below"); None when none does or the profile has no peer figures.
    """
    other = "above" if side == "below" else "below"
    for group, words in _PEER_GROUPS.items():
        shares = (profile.get("peer_flags") or {}).get(group) or {}
        claimed, opposite = float(shares.get(side, 0.0)), float(shares.get(other, 0.0))
        if opposite - claimed >= CONTRADICTS:
            return f"{pct_text(opposite)} paid {other} {words}, {pct_text(claimed)} {side}"
    return None


def _pay_for_experience(profile: Mapping[str, Any], population: Mapping[str, Any]) -> list[Word]:
    z = _z(profile, "pay_vs_experience")
    if z <= -NAME_Z and contradiction(profile, "below") is None:
        share, base = profile["below_experience_share"], population["below_experience_share"]
        if share > base:
            figure = (
                f"{pct_text(share)} paid at least 20 % less than the median learner with their "
                f"experience (all learners: {pct_text(base)})"
            )
            rule = (
                "pay-vs-experience z <= -0.25, more paid >= 20 % under the median at their "
                "experience than among all learners, and no peer group pays them more"
            )
            return [Word("Underpaid for their experience", "pay_vs_experience", rule, figure, -z)]
    if z >= NAME_Z and contradiction(profile, "above") is None:
        share = profile.get("above_experience_share", 0.0)
        base = population.get("above_experience_share", 1.0)
        if share > base:
            figure = (
                f"{pct_text(share)} paid at least 25 % more than the median learner with their "
                f"experience (all learners: {pct_text(base)})"
            )
            rule = (
                "pay-vs-experience z >= +0.25, more paid >= 25 % over the median at their "
                "experience than among all learners, and no peer group pays them less"
            )
            return [Word("Well-paid for their experience", "pay_vs_experience", rule, figure, z)]
    return []


def _tier_word(tier: str, tiers: Sequence[str]) -> tuple[str, str]:
    """A tier's word and its words in a figure: the best, the lowest, the middle."""
    n = tier.removeprefix("tier ")
    if tier == tiers[0]:
        return "Tier-1 companies", f"tier-{n} (best-paying) companies"
    if tier == tiers[-1]:
        return "Lower-paying companies", f"tier-{n} (lower-paying) companies"
    if len(tiers) == 3:
        return "Mid-paying companies", f"tier-{n} (mid-paying) companies"
    return f"Tier-{n} companies", f"tier-{n} companies"


def _companies(profile: Mapping[str, Any], population: Mapping[str, Any]) -> list[Word]:
    """The company tiers over-represented among the learners whose company is known."""
    known = int(profile.get("company_known", 0))
    if known < FEW_LEARNERS or float(profile.get("company_known_share", 1.0)) < MIN_KNOWN_SHARE:
        return []
    bases = population["company_tier_shares"]
    tiers = sorted(bases, key=lambda t: int(t.removeprefix("tier ")))
    shares = profile["company_tier_shares"]
    known_share = float(profile.get("company_known_share", 1.0))
    base_known = float(population.get("company_known_share", 1.0))
    out = []
    for tier in tiers:
        share, base = float(shares.get(tier, 0.0)), float(bases[tier])
        z = share_z(share, base)
        if z < NAME_Z:
            continue
        word, words = _tier_word(tier, tiers)
        figure = (
            f"{known_text(share, known_share)} at {words} (all learners: "
            f"{known_text(base, base_known)})"
        )
        rule = (
            f"the tier most over-represented among learners whose company is known: its "
            f"share's z >= +0.25, from at least {FEW_LEARNERS} such learners, with at least "
            f"{pct_text(MIN_KNOWN_SHARE)} of the segment's companies known"
        )
        out.append(Word(word, "company_tier", rule, figure, z))
    return sorted(out, key=lambda w: -w.strength)


def _pay(profile: Mapping[str, Any], population: Mapping[str, Any]) -> list[Word]:
    z = _z(profile, "log_ctc")
    lpa = profile["center"]["ctc_lpa"]
    base = population["ctc_lpa"]
    quartiles = profile["pay_quartile_shares"]
    figure = f"median {lpa_text(lpa)} (all learners: {lpa_text(base['p50'])})"
    out = []
    if z >= NAME_Z and lpa > base["p50"]:
        if quartiles["top"] >= HALF:
            top = f"{pct_text(quartiles['top'])} earn {lpa_text(base['p75'])} or more"
            rule = "pay z >= +0.25, at least half in all learners' top pay quartile"
            out.append(Word("Top-paid", "log_ctc", rule, f"{top}; {figure}", z))
        rule = "pay z >= +0.25, median above all learners' median"
        out.append(Word("Higher-paid", "log_ctc", rule, figure, z))
    if z <= -NAME_Z and lpa < base["p50"]:
        if quartiles["bottom"] >= HALF:
            low = f"{pct_text(quartiles['bottom'])} earn {lpa_text(base['p25'])} or less"
            rule = "pay z <= -0.25, at least half in all learners' bottom pay quartile"
            out.append(Word("Low-paid", "log_ctc", rule, f"{low}; {figure}", -z))
        rule = "pay z <= -0.25, median below all learners' median"
        out.append(Word("Lower-paid", "log_ctc", rule, figure, -z))
    return out


def _track(profile: Mapping[str, Any], population: Mapping[str, Any]) -> list[Word]:
    """The track most over-represented among the segment's known titles, when distinctive."""
    shares = profile.get("track_shares_known") or {}
    bases = population.get("tracks_known") or {}
    known = int(profile.get("known_titles", 0))
    best: Word | None = None
    for track, share in shares.items():
        base = float(bases.get(track, 0.0))
        if track in (OTHER_TRACK, UNKNOWN_TRACK) or base <= 0.0:
            continue
        z, lift = share_z(share, base), share / base
        if z < NAME_Z or lift < ROLE_LIFT or round(share * known) < FEW_LEARNERS:
            continue
        if best is None or z > best.strength:
            name = TRACK_NAMES.get(track, track)
            figure = (
                f"{pct_text(share)} of known titles are {name} (all learners: "
                f"{pct_text(base)}), {lift_text(lift)}x"
            )
            rule = (
                f"the track most over-represented among known titles: share z >= +0.25, "
                f"lift >= {ROLE_LIFT:g}, from at least {FEW_LEARNERS} learners"
            )
            many = share >= TRACK_SHARE and share >= max(
                v for t, v in shares.items() if t not in (OTHER_TRACK, UNKNOWN_TRACK)
            )
            if many:
                rule += f", the commonest known track, at least {pct_text(TRACK_SHARE)} of them"
                best = Word(f"Many {name} titles", "track", rule, figure, z)
            else:  # distinctive by lift only: over-represented, not "many"
                rule += f"; under {pct_text(TRACK_SHARE)} or not the commonest: lift only"
                best = Word(f"More {name} titles than elsewhere", "track", rule, figure, z)
    return [] if best is None else [best]


def _generic(name: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], list[Word]]:
    def words(profile: Mapping[str, Any], population: Mapping[str, Any]) -> list[Word]:
        z = _z(profile, name)
        label = name.replace("_", " ")
        if abs(z) < NAME_Z:
            return []
        side = "Above-average" if z > 0 else "Below-average"
        rule = f"{label}: z at least 0.25 from all learners'"
        return [Word(f"{side} {label}", name, rule, f"{label} z {z:+.2f}", abs(z))]

    return words


#: The words of each input, by feature name (any other input: :func:`_generic`).
_INPUT_WORDS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], list[Word]]] = {
    "years_experience": _experience,
    "pay_vs_experience": _pay_for_experience,
    "company_tier": _companies,
    "log_ctc": _pay,
}


def held_words(
    profile: Mapping[str, Any],
    population: Mapping[str, Any],
    inputs: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
) -> list[Word]:
    """Every word of the vocabulary whose rule holds on a profile, the most specific first.

    Parameters
    ----------
    profile : mapping
        A segment (or macro-segment) profile, names excluded
        (:func:`training.insights.profiles.profile_from_figures`).
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    inputs : sequence of str
        The model's inputs (the manifest's ``features``).

    Returns
    -------
    list of Word
        For each input, its words that hold (a "Senior" segment also holds "Experienced"),
        then the track word; :data:`TYPICAL` alone when nothing holds.
    """
    out = []
    for name in inputs:
        out += _INPUT_WORDS.get(name, _generic(name))(profile, population)
    out += _track(profile, population)
    if not out:
        rule = f"every input within {NAME_Z:g} standard deviations of all learners'"
        return [Word(TYPICAL, "typical", rule, "no input at |z| >= 0.25", 0.0)]
    return out


def name_words(
    profile: Mapping[str, Any],
    population: Mapping[str, Any],
    inputs: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
) -> list[Word]:
    """A profile's candidate words: the most specific word of each input, largest ``|z|`` first.

    Parameters
    ----------
    profile, population, inputs
        As in :func:`held_words`.

    Returns
    -------
    list of Word
        One word per input (and the track), by strength, ties in the order of ``inputs``.
    """
    return _best_per_kind(held_words(profile, population, inputs))


def _best_per_kind(words: Sequence[Word]) -> list[Word]:
    seen: dict[str, Word] = {}
    for word in words:
        seen.setdefault(word.kind, word)
    return sorted(seen.values(), key=lambda w: -w.strength)


def _common(own: Sequence[Word], members: Sequence[Sequence[Word]]) -> list[Word]:
    """The words of ``own`` that every member holds too, each as strong as its weakest."""
    out = []
    for word in own:
        found = [next((m for m in held if m.word == word.word), None) for held in members]
        if all(m is not None for m in found):
            weakest = min([word.strength, *(m.strength for m in found if m is not None)])
            out.append(replace(word, strength=weakest))
    return out


def _first_words(candidates: Sequence[Sequence[Word]]) -> list[Word | None]:
    """One first word per profile, no two sharing their first token, with the largest sum of
    strengths (the assignment problem); None for a profile that gets no word of its own."""
    from scipy.optimize import linear_sum_assignment

    tokens = sorted({w.token for words in candidates for w in words})
    n = len(candidates)
    # Columns: the tokens, then one "no word" column per profile (cost 0, its own only).
    cost = np.full((n, len(tokens) + n), 1e9)
    pick: dict[tuple[int, int], Word] = {}
    for i, words in enumerate(candidates):
        cost[i, len(tokens) + i] = 0.0
        kinds: set[str] = set()
        for word in words:
            j = tokens.index(word.token)
            # A more general word of an input whose specific word holds ("Experienced" for a
            # "Senior" segment) counts half: it opens a name only where it tells segments
            # apart much better than the alternatives.
            strength = word.strength * (0.5 if word.kind in kinds else 1.0)
            kinds.add(word.kind)
            if (i, j) not in pick:
                pick[(i, j)] = word
                # a Typical word (strength 0) still beats going without a word; on a tie the
                # earlier profile (the lower id) gets it
                cost[i, j] = -(strength + 1e-3 - 1e-9 * i)
    rows, cols = linear_sum_assignment(cost)
    out: list[Word | None] = [None] * n
    for i, j in zip(rows, cols, strict=True):
        if j < len(tokens):
            out[int(i)] = pick[(int(i), int(j))]
    return out


def _id_word(profile: Mapping[str, Any], members: Sequence[int] | None) -> str:
    if members is None:
        return f"Segment {profile['id']}"
    ids = [str(m) for m in members]
    return f"Segments {', '.join(ids[:-1])} and {ids[-1]}" if len(ids) > 1 else f"Segment {ids[0]}"


def name_profiles(
    profiles: list[dict[str, Any]],
    population: Mapping[str, Any],
    *,
    inputs: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
    members: Mapping[int, Sequence[Mapping[str, Any]]] | None = None,
) -> None:
    """Name every profile in place (the rules of the module docstring).

    Parameters
    ----------
    profiles : list of dict
        Profiles of one level (segments, or macro-segments), each with its ``id``. Sets
        ``name`` and ``name_words`` (each word with its kind, rule and figure).
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    inputs : sequence of str
        The model's inputs (the manifest's ``features``).
    members : mapping of int to sequence of mapping, optional
        For macro-segments: id -> its segments' profiles. A word is then used only when it
        holds for every one of them.
    """
    held, candidates = [], []
    for profile in profiles:
        own = held_words(profile, population, inputs)
        if members is not None:
            inside = [held_words(m, population, inputs) for m in members[int(profile["id"])]]
            own = _common(own, inside)
        held.append(own)
        candidates.append(_best_per_kind(own))
    # Any word a profile holds may open its name ("Experienced" when another segment is the
    # "Senior" one); the rest of the name is the most specific word of each other input.
    firsts = _first_words(held)
    for profile, words, first in zip(profiles, candidates, firsts, strict=True):
        ids = None if members is None else [int(m["id"]) for m in members[int(profile["id"])]]
        if first is None:
            rest = [w for w in words if w.word != TYPICAL][: MAX_WORDS - 1]
            shown = [_id_word(profile, ids), *(w.shown(False) for w in rest)]
            kept: list[dict[str, str]] = [w.to_dict(False) for w in rest]
        else:
            rest = [w for w in words if w.kind != first.kind][: MAX_WORDS - 1]
            shown = [first.shown(True), *(w.shown(False) for w in rest)]
            kept = [first.to_dict(True), *(w.to_dict(False) for w in rest)]
        name = ", ".join(shown)
        if int(profile.get("size", FEW_LEARNERS)) < FEW_LEARNERS:
            name += f" (fewer than {FEW_LEARNERS} learners)"
        profile["name"] = name
        profile["name_words"] = kept
