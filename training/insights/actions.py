"""The recommendation catalogue: rules fired by a segment's measured figures, each quoting them.

Every rule reads one figure of a segment profile (a share of its learners, or a lift), fires when
the figure reaches the rule's threshold (``TrainingSettings.recommendation_thresholds``, which the
business can change), and words its advice around that figure ("82 % earn less than colleagues
with the same title at their company: ..."). docs/recommendations.md lists the catalogue.

Choosing among the rules that fire (:func:`assign_actions`):

* score = reach (learners the figure counts) x strength (figure / threshold, so 1 at the
  threshold);
* each segment gets at most ``MAX_PER_SEGMENT`` actions and each rule is given to at most
  ``MAX_SEGMENTS_PER_RULE`` segments, taken greedily by score over the whole model: the same
  advice is not repeated down the report, and it goes where it reaches most;
* a segment where no rule fires gets no action: nothing is said that the data does not support.

The three actions to take first (:func:`summary_actions`) are each segment's action of the
widest reach, except for a segment that may not come back on new data and shares its
macro-segment (:func:`acted_through_coarse`): the macro-segment's action stands in for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from training.config import MIN_JACCARD, RECOMMENDATION_THRESHOLDS
from training.insights.wording import inr_text, pct_text
from training.runtime.tracks import TRACK_NAMES

__all__ = [
    "CATALOGUE",
    "DEFAULT_THRESHOLDS",
    "FAMILY_TRACKS",
    "MAX_PER_SEGMENT",
    "MAX_SEGMENTS_PER_RULE",
    "Action",
    "Finding",
    "Rule",
    "acted_through_coarse",
    "assign_actions",
    "fired_actions",
    "first_action",
    "recommend_profiles",
    "summary_actions",
]

MAX_PER_SEGMENT = 3
MAX_SEGMENTS_PER_RULE = 2

FAMILY_TRACKS: dict[str, str] = {
    "data": "a data science and machine-learning specialisation track",
    "devops": "a cloud, DevOps and site-reliability track",
    "qa": "an SDET track: test automation, then a move into development",
    "mobile": "a mobile engineering track (Android/iOS architecture, performance)",
    "frontend": "a frontend engineering track (web performance, design systems)",
    "fullstack": "a full-stack track with system design for product companies",
    "backend": "a backend track: distributed systems and scalable services",
    "leadership": "an engineering-management and architecture programme",
    "product": "a product management and design track",
    "support": "a programming-foundations bridge course into development roles",
}


@dataclass(frozen=True)
class Finding:
    """What a rule measured on one segment: the figure, the learners it counts, the text."""

    figure: float
    reach: int
    text: str


@dataclass(frozen=True)
class Rule:
    """One catalogue entry: its id, the figure it reads (in words), and how it measures.

    Its default threshold is ``training.config.RECOMMENDATION_THRESHOLDS[id]`` (the settings'
    module holds every threshold)."""

    id: str
    figure: str
    measure: Callable[[Mapping[str, Any], Mapping[str, Any]], Finding | None]


def _below_peers(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    share = p["peer_flags"]["designation"]["below"]
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} earn less than colleagues with the same title at their company: offer "
        "salary-negotiation coaching and referrals into better-paying teams.",
    )


def _above_peers(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    share = p["peer_flags"]["designation"]["above"]
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} already earn more than colleagues with the same title at their "
        "company: offer a promotion-readiness track (system design, leading projects) for the "
        "next title.",
    )


def _early_career(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    share = p["experience_shares"]["0-2"]
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} have at most 2 years of experience: offer a foundations track (data "
        "structures, algorithms, core CS) with placement preparation and mock interviews.",
    )


def _low_pay(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    share = p["pay_quartile_shares"]["bottom"]
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} earn {inr_text(pop['ctc_inr']['p25'])} or less, the bottom quarter "
        "of all learners: offer job-ready upskilling with placement support.",
    )


def _below_experience(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    share = p["below_experience_share"]
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} earn at least 20 % less than the median learner with the same "
        "experience: offer a job-switch programme with referrals and interview preparation.",
    )


def _lower_paying_companies(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    share = p["company_tier_shares"].get("tier 3", 0.0)
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} work at lower-paying (tier-3) companies: offer a product-company "
        "interview track matched to tier-1 hiring bars.",
    )


def _mid_tier_companies(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    share = p["company_tier_shares"].get("tier 2", 0.0)
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} work at mid-paying (tier-2) companies: offer a route into tier-1 "
        "companies (system design and interview rounds at their bar, referrals).",
    )


def _senior_top_pay(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    years = p["center"]["years_experience"]
    if years < pop["years_experience"]["p75"]:
        return None
    share = p["pay_quartile_shares"]["top"]
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} earn {inr_text(pop['ctc_inr']['p75'])} or more, the top quarter, "
        f"with a median of {years:g} years' experience: offer leadership and large-scale "
        "system design programmes, and invite them as mentors and alumni speakers.",
    )


def _role_track(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    family = p["dominant_track"]
    if family is None or family["name"] not in FAMILY_TRACKS:
        return None
    return Finding(
        family["lift"],
        round(family["share"] * p["known_titles"]),
        f"{TRACK_NAMES.get(family['name'], family['name'])} titles are {family['lift']:.1f}x as "
        f"common as among all learners ({pct_text(family['share'])} of known titles): offer "
        f"{FAMILY_TRACKS[family['name']]}.",
    )


def _stale_pay(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    cutoff = pop["stale_ctc_year"]
    count = sum(n for year, n in p["ctc_years"].items() if int(year) <= cutoff)
    share = count / p["size"]
    return Finding(
        share,
        count,
        f"{pct_text(share)} last updated their pay in {cutoff} or earlier: ask them to update it "
        "before advising on a switch or a negotiation.",
    )


def _missing_titles(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    share = p["data_quality"]["no_title_share"]
    return Finding(
        share,
        round(share * p["size"]),
        f"{pct_text(share)} have no job title on file: ask for it at their next login, so that "
        "course and career advice can follow their role.",
    )


#: The catalogue, in the order docs/recommendations.md lists it.
CATALOGUE: tuple[Rule, ...] = (
    Rule("below_peers", "share paid below company x title peers", _below_peers),
    Rule("above_peers", "share paid above company x title peers", _above_peers),
    Rule("early_career", "share with 0-2 years of experience", _early_career),
    Rule("low_pay", "share in the bottom pay quartile of all learners", _low_pay),
    Rule(
        "below_experience",
        "share paid >= 20 % below the median at their experience",
        _below_experience,
    ),
    Rule(
        "lower_paying_companies",
        "share at tier-3 (lower-paying) companies",
        _lower_paying_companies,
    ),
    Rule(
        "mid_tier_companies",
        "share at tier-2 (mid-paying) companies",
        _mid_tier_companies,
    ),
    Rule(
        "senior_top_pay",
        "share in the top pay quartile, for a segment whose median experience is at or above "
        "the population's 75th percentile",
        _senior_top_pay,
    ),
    Rule(
        "role_track",
        "lift of the commonest role family among known titles",
        _role_track,
    ),
    Rule(
        "stale_pay",
        "share whose CTC was last updated 4 or more years before the reference year",
        _stale_pay,
    ),
    Rule("missing_titles", "share without a job title", _missing_titles),
)
DEFAULT_THRESHOLDS: dict[str, float] = dict(RECOMMENDATION_THRESHOLDS)


@dataclass(frozen=True)
class Action:
    """One fired rule on one segment: JSON via :meth:`to_dict`."""

    rule: str
    text: str
    figure: float
    threshold: float
    reach: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "text": self.text,
            "figure": round(self.figure, 4),
            "threshold": self.threshold,
            "reach": self.reach,
            "score": round(self.score, 1),
        }


def fired_actions(
    profile: Mapping[str, Any], population: Mapping[str, Any], thresholds: Mapping[str, float]
) -> list[Action]:
    """Every catalogue rule that fires on a profile.

    Parameters
    ----------
    profile : mapping
        A segment (or macro-segment) profile.
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    thresholds : mapping of str to float
        Rule id -> threshold; a rule not in it has its default (:data:`DEFAULT_THRESHOLDS`).

    Returns
    -------
    list of Action
        The rules whose figure reaches its threshold and that reach a learner, best score
        first (ties: by rule).
    """
    out = []
    for rule in CATALOGUE:
        threshold = float(thresholds.get(rule.id, DEFAULT_THRESHOLDS[rule.id]))
        found = rule.measure(profile, population)
        if found is None or found.figure < threshold or found.reach <= 0:
            continue
        strength = found.figure / threshold if threshold > 0 else 1.0
        out.append(
            Action(
                rule=rule.id,
                text=found.text,
                figure=found.figure,
                threshold=threshold,
                reach=found.reach,
                score=found.reach * strength,
            )
        )
    return sorted(out, key=lambda a: (-a.score, a.rule))


def assign_actions(
    profiles: Sequence[Mapping[str, Any]],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
) -> list[list[Action]]:
    """The actions of each profile: at most 3 each, each rule in at most 2 profiles.

    Candidates of all profiles are taken greedily by score, so a rule goes to the profiles where
    it reaches most.

    Parameters
    ----------
    profiles : sequence of mapping
        Profiles of one level (segments, or macro-segments).
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    thresholds : mapping of str to float
        Rule id -> threshold (:func:`fired_actions`).

    Returns
    -------
    list of list of Action
        Each profile's actions (in the order of ``profiles``), best first.
    """
    candidates = [
        (action, i)
        for i, profile in enumerate(profiles)
        for action in fired_actions(profile, population, thresholds)
    ]
    candidates.sort(key=lambda c: (-c[0].score, c[1], c[0].rule))
    chosen: list[list[Action]] = [[] for _ in profiles]
    uses: dict[str, int] = {}
    for action, i in candidates:
        if len(chosen[i]) < MAX_PER_SEGMENT and uses.get(action.rule, 0) < MAX_SEGMENTS_PER_RULE:
            chosen[i].append(action)
            uses[action.rule] = uses.get(action.rule, 0) + 1
    return chosen


def recommend_profiles(
    profiles: list[dict[str, Any]],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
) -> None:
    """Give every profile its actions (:func:`assign_actions`), in place.

    Parameters
    ----------
    profiles : list of dict
        Profiles of one level (segments, or macro-segments). Sets ``actions`` (rule, text,
        figure, threshold, reach, score) and ``recommendations`` (the texts alone, as the
        service lists them).
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    thresholds : mapping of str to float
        Rule id -> threshold (``TrainingSettings.recommendation_thresholds``).
    """
    for profile, actions in zip(
        profiles, assign_actions(profiles, population, thresholds), strict=True
    ):
        profile["actions"] = [a.to_dict() for a in actions]
        profile["recommendations"] = [a.text for a in actions]


def acted_through_coarse(
    segments: Sequence[Mapping[str, Any]],
    coarse: Sequence[Mapping[str, Any]],
    jaccard: Mapping[int, float] | None,
) -> dict[int, int]:
    """The segments to act on through their macro-segment.

    A segment whose bootstrap Jaccard is under :data:`training.config.MIN_JACCARD` (doubtful
    or dissolving), in a macro-segment with other segments; a segment alone in its
    macro-segment has nothing coarser to fall back on and stays (the report says to act on it
    with care).

    Parameters
    ----------
    segments : sequence of mapping
        Segment profiles (``id``, ``coarse_segment_id``).
    coarse : sequence of mapping
        Macro-segment profiles (``id``, ``segments``).
    jaccard : mapping of int to float, optional
        Each segment's bootstrap stability by id; None or empty when not measured.

    Returns
    -------
    dict of int to int
        Segment id -> the id of the macro-segment to act on instead.
    """
    if not jaccard:
        return {}
    size = {int(c["id"]): len(c["segments"]) for c in coarse}
    out = {}
    for p in segments:
        cid = p.get("coarse_segment_id")
        j = jaccard.get(int(p["id"]))
        if j is not None and j < MIN_JACCARD and cid is not None and size.get(int(cid), 0) > 1:
            out[int(p["id"])] = int(cid)
    return out


def first_action(profile: Mapping[str, Any]) -> dict[str, Any] | None:
    """A profile's action of the widest reach.

    Parameters
    ----------
    profile : mapping
        A profile with its ``actions`` (:func:`recommend_profiles`).

    Returns
    -------
    dict or None
        A copy of the action of the widest reach (ties: by rule); None without actions.
    """
    actions = sorted(profile["actions"], key=lambda a: (-a["reach"], a["rule"]))
    return dict(actions[0]) if actions else None


def _candidates(
    segments: Sequence[Mapping[str, Any]],
    coarse: Sequence[Mapping[str, Any]],
    through: Mapping[int, int],
) -> list[dict[str, Any]]:
    """Each segment's first action, or its macro-segment's (once) when acted on through it."""
    candidates = []
    for p in segments:
        if int(p["id"]) in through:
            continue
        action = first_action(p)
        if action is not None:
            candidates.append(
                {"level": "segment", "segment_id": p["id"], "segment_name": p["name"], **action}
            )
    for c in coarse:
        if int(c["id"]) not in through.values():
            continue
        action = first_action(c)
        if action is not None:
            candidates.append(
                {
                    "level": "macro-segment",
                    "segment_id": None,
                    "segment_name": c["name"],
                    "coarse_segment_id": c["id"],
                    "segments": sorted(c["segments"]),
                    **action,
                }
            )
    return candidates


def summary_actions(
    segments: Sequence[Mapping[str, Any]],
    coarse: Sequence[Mapping[str, Any]],
    jaccard: Mapping[int, float] | None = None,
) -> list[dict[str, Any]]:
    """The three actions to take first.

    Each segment offers its action of the widest reach (:func:`first_action`), except a
    segment acted on through its macro-segment (:func:`acted_through_coarse`): its
    macro-segment offers its own instead (once). The three of the largest reach are kept:
    three actions for three groups of learners.

    Parameters
    ----------
    segments, coarse : sequence of mapping
        Segment and macro-segment profiles, with their actions.
    jaccard : mapping of int to float, optional
        Each segment's bootstrap stability by id, when measured.

    Returns
    -------
    list of dict
        Up to three actions, largest reach first, each with its ``level`` (``"segment"`` or
        ``"macro-segment"``), ``segment_id`` and ``segment_name`` (a macro-segment's also
        ``coarse_segment_id`` and ``segments``).
    """
    through = acted_through_coarse(segments, coarse, jaccard)
    candidates = _candidates(segments, coarse, through)
    # Ties: a segment before a macro-segment (the narrower group), then by id and rule.
    candidates.sort(
        key=lambda a: (
            -a["reach"],
            a["level"] != "segment",
            a.get("segment_id") or 0,
            a.get("coarse_segment_id") or 0,
            a["rule"],
        )
    )
    return candidates[:3]
