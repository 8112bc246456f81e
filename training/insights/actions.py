"""Career actions: rules fired by a segment's measured figures, each naming a catalogue entry.

Courses (what to teach) are chosen per cohort, a segment's learners on one track
(``cohorts`` in ``profiles.json``); the actions here are the catalogue's **career services**.
Every rule reads one figure of a segment profile (a share of its learners), fires when the
figure reaches the rule's threshold (``TrainingSettings.recommendation_thresholds``), and words
its advice around that figure and why the service follows from it ("75 % earn at least 20 %
less than the median learner with the same experience; a move to a better-paying job closes
that gap fastest: offer Interview preparation and job-switch support."). Each rule belongs to a
programme family; the action names the first career service of the school's catalogue
(``TrainingSettings.courses``) of that family that fits the career stage of the learners the
figure counts. A rule whose family has no such entry does not fire: an action always names
something the school offers. docs/recommendations.md lists the rules and why each holds.

Choosing among the rules that fire (:func:`assign_actions`):

* score = reach (learners the figure counts) x strength (figure / threshold, so 1 at the
  threshold);
* candidates of the whole model are taken greedily by score: a segment gets at most
  :data:`MAX_PER_SEGMENT` actions, **at most one per programme family**, and each catalogue
  entry goes to at most :data:`MAX_SEGMENTS_PER_PROGRAMME` segments, where it reaches most;
* a figure counted on fewer than :data:`~training.insights.figures.FEW_LEARNERS` learners is
  marked (``small``) and never among the actions to take first;
* a segment whose rules fire but whose programmes all went to segments where they reach more
  is offered the next-best fitting career service of another family (:data:`NEXT_BEST`: an
  underpaid segment whose job-switch support went elsewhere gets pay negotiation coaching),
  within the same caps, and its action says which programme went elsewhere;
* a segment with no action says why (``no_action``): no rule fires (and which came nearest),
  or its programmes, and their next-best, went to segments where they reach more.

The three actions to take first (:func:`summary_actions`) are each segment's action of the
widest reach, except for a segment that may not come back on new data and shares its
macro-segment (:func:`acted_through_coarse`): the macro-segment's action stands in for it. The
courses to offer first (:func:`summary_courses`) are the catalogue's courses by the learners of
their cohorts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from training.config import MIN_JACCARD, RECOMMENDATION_THRESHOLDS
from training.insights.courses import course_learners
from training.insights.figures import FEW_LEARNERS, MIN_KNOWN_SHARE
from training.insights.wording import few_text, inr_text, known_text, pct_text
from training.runtime.courses import CAREER, DEFAULT_COURSES, Course

__all__ = [
    "CATALOGUE",
    "DEFAULT_THRESHOLDS",
    "MAX_PER_SEGMENT",
    "MAX_SEGMENTS_PER_PROGRAMME",
    "MAX_SEGMENTS_PER_RULE",
    "NEXT_BEST",
    "RETIRED_RULES",
    "Action",
    "Finding",
    "Rule",
    "acted_through_coarse",
    "assign_actions",
    "career_stage",
    "fired_actions",
    "first_action",
    "recommend_profiles",
    "summary_actions",
    "summary_courses",
]

MAX_PER_SEGMENT = 3
#: A catalogue entry goes to at most this many segments (of one level).
MAX_SEGMENTS_PER_PROGRAMME = 2
#: The former name of :data:`MAX_SEGMENTS_PER_PROGRAMME` (a rule's cap, now a programme's).
MAX_SEGMENTS_PER_RULE = MAX_SEGMENTS_PER_PROGRAMME

#: Rules of earlier versions that no longer fire, and why (their thresholds are still accepted).
RETIRED_RULES: dict[str, str] = {
    "above_peers": "earning more than same-title colleagues says nothing about readiness for "
    "the next title",
    "low_pay": "the bottom pay quartile is mostly the least experienced; pay against the same "
    "experience (below_experience) is the figure a job switch follows from",
    "mid_tier_companies": "a mid-paying company says nothing about the learner's own pay",
    "role_track": "courses are chosen per cohort (segment x track), not as a segment's action",
}


@dataclass(frozen=True)
class Finding:
    """What a rule measured on one segment.

    ``figure`` is the share the threshold reads, ``reach`` the learners it counts, ``basis`` the
    learners it is a share of, ``evidence`` the figure in words and ``why`` the reason the
    service follows from it.
    """

    figure: float
    reach: int
    basis: int
    evidence: str
    why: str


@dataclass(frozen=True)
class Rule:
    """One rule: its id, the figure it reads (in words), the programme family it calls for,
    how it measures, and the career stage of the learners it counts (None: the segment's).

    Its default threshold is ``training.config.RECOMMENDATION_THRESHOLDS[id]``."""

    id: str
    figure: str
    family: str
    measure: Callable[[Mapping[str, Any], Mapping[str, Any]], Finding | None]
    stage: str | None = None


def _share(p: Mapping[str, Any], share: float) -> tuple[float, int, int]:
    return share, round(share * p["size"]), int(p["size"])


def _below_peers(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding:
    share = p["peer_flags"]["designation"]["below"]
    base = pop.get("peer_flags", {}).get("designation", {}).get("below")
    against = f" (all learners: {pct_text(base)})" if base is not None else ""
    return Finding(
        *_share(p, share),
        f"{pct_text(share)} earn less than their title peers, learners with the same title at "
        f"their company or anywhere when their company is unknown{against}",
        "the same job pays them less, so the gap closes at a pay review or an offer",
    )


def _early_career(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding:
    share = p["experience_shares"]["0-2"]
    return Finding(
        *_share(p, share),
        f"{pct_text(share)} have at most 2 years of experience",
        "a first job or an internship is their next step",
    )


def _below_experience(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding:
    share = p["below_experience_share"]
    base = pop.get("below_experience_share")
    against = f" (all learners: {pct_text(base)})" if base is not None else ""
    return Finding(
        *_share(p, share),
        f"{pct_text(share)} earn at least 20 % less than the median learner with the same "
        f"experience{against}",
        "a move to a better-paying job closes that gap fastest",
    )


def _lower_paying_companies(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    known = int(p.get("company_known", p["size"]))
    known_share = float(p.get("company_known_share", 1.0))
    # a tier share of a segment whose companies are mostly unknown speaks for a minority of it
    if known <= 0 or known_share < MIN_KNOWN_SHARE:
        return None
    share = p["company_tier_shares"].get("tier 3", 0.0)
    base = pop.get("company_tier_shares", {}).get("tier 3")
    against = (
        f" (all learners: {known_text(base, float(pop.get('company_known_share', 1.0)))})"
        if base is not None
        else ""
    )
    return Finding(
        share,
        round(share * known),
        known,
        f"{known_text(share, known_share)} work at lower-paying (tier-3) companies{against}",
        "better pay for the same work is at another company",
    )


def _senior_top_pay(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding | None:
    years = p["center"]["years_experience"]
    if years < pop["years_experience"]["p75"]:
        return None
    share = p["pay_quartile_shares"]["top"]
    return Finding(
        *_share(p, share),
        f"{pct_text(share)} earn {inr_text(pop['ctc_inr']['p75'])} or more, the top quarter of "
        f"all learners, with a median of {years:g} years' experience",
        "their pay is already high: the next step is a level (staff, principal, manager), not "
        "a pay correction",
    )


def _stale_pay(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding:
    cutoff = pop["stale_ctc_year"]
    count = sum(n for year, n in p["ctc_years"].items() if int(year) <= cutoff)
    return Finding(
        count / p["size"],
        count,
        int(p["size"]),
        f"{pct_text(count / p['size'])} last updated their pay in {cutoff} or earlier",
        "advice on pay or a switch needs today's figure",
    )


def _missing_titles(p: Mapping[str, Any], pop: Mapping[str, Any]) -> Finding:
    share = p["data_quality"]["no_title_share"]
    return Finding(
        *_share(p, share),
        f"{pct_text(share)} have no job title on file",
        "without it no course can follow their track",
    )


#: The rules, in the order docs/recommendations.md lists them.
CATALOGUE: tuple[Rule, ...] = (
    Rule(
        "below_peers",
        "share paid below their title peers (same title at their company, or anywhere when the "
        "company is unknown)",
        "pay",
        _below_peers,
    ),
    Rule("early_career", "share with 0-2 years of experience", "placement", _early_career, "early"),
    Rule(
        "below_experience",
        "share paid >= 20 % below the median at their experience",
        "job switch",
        _below_experience,
    ),
    Rule(
        "lower_paying_companies",
        "share at tier-3 (lower-paying) companies, among learners whose company is known",
        "job switch",
        _lower_paying_companies,
    ),
    Rule(
        "senior_top_pay",
        "share in the top pay quartile, for a segment whose median experience is at or above "
        "the population's 75th percentile",
        "growth",
        _senior_top_pay,
        "senior",
    ),
    Rule(
        "stale_pay",
        "share whose CTC was last updated 3 or more years before the latest update",
        "profile",
        _stale_pay,
    ),
    Rule("missing_titles", "share without a job title", "profile", _missing_titles),
)
DEFAULT_THRESHOLDS: dict[str, float] = {
    rule.id: float(RECOMMENDATION_THRESHOLDS[rule.id]) for rule in CATALOGUE
}


def career_stage(profile: Mapping[str, Any], population: Mapping[str, Any]) -> str:
    """A profile's career stage: ``"early"`` (median experience at or below all learners' 25th
    percentile), ``"senior"`` (at or above the 75th) or ``"mid"``
    (:data:`training.runtime.courses.STAGES`)."""
    years = profile["center"]["years_experience"]
    quartiles = population["years_experience"]
    if years <= quartiles["p25"]:
        return "early"
    return "senior" if years >= quartiles["p75"] else "mid"


def _service(catalogue: Sequence[Course], family: str, stage: str) -> Course | None:
    """The first career service of a family that fits a career stage."""
    for entry in catalogue:
        if entry.kind == CAREER and entry.family == family and entry.fits("*", stage):
            return entry
    return None


@dataclass(frozen=True)
class Action:
    """One fired rule on one segment and the catalogue entry it names: JSON via
    :meth:`to_dict`."""

    rule: str
    text: str
    figure: float
    threshold: float
    reach: int
    score: float
    programme: str
    programme_name: str
    family: str
    basis: int

    @property
    def small(self) -> bool:
        """Whether the figure is counted on fewer than ``FEW_LEARNERS`` learners."""
        return self.basis < FEW_LEARNERS

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "text": self.text,
            "figure": round(self.figure, 4),
            "threshold": self.threshold,
            "reach": self.reach,
            "score": round(self.score, 1),
            "programme": self.programme,
            "programme_name": self.programme_name,
            "family": self.family,
            "basis": self.basis,
            "small": self.small,
        }


def _text(found: Finding, entry: Course) -> str:
    few = f" ({few_text(found.basis)})" if found.basis < FEW_LEARNERS else ""
    return f"{found.evidence}{few}; {found.why}: offer {entry.name}."


def fired_actions(
    profile: Mapping[str, Any],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
    catalogue: Sequence[Course] = DEFAULT_COURSES,
) -> list[Action]:
    """Every rule that fires on a profile, with the catalogue entry it names.

    Parameters
    ----------
    profile : mapping
        A segment (or macro-segment) profile.
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    thresholds : mapping of str to float
        Rule id -> threshold; a rule not in it has its default (:data:`DEFAULT_THRESHOLDS`).
    catalogue : sequence of Course
        The school's catalogue (``TrainingSettings.catalogue()``).

    Returns
    -------
    list of Action
        The rules whose figure reaches its threshold, that reach a learner and whose family
        has a career service for the stage, best score first (ties: by rule).
    """
    out = []
    stage = career_stage(profile, population)
    for rule in CATALOGUE:
        threshold = float(thresholds.get(rule.id, DEFAULT_THRESHOLDS[rule.id]))
        found = rule.measure(profile, population)
        if found is None or found.figure < threshold or found.reach <= 0:
            continue
        entry = _service(catalogue, rule.family, rule.stage or stage)
        if entry is None:
            continue
        strength = found.figure / threshold if threshold > 0 else 1.0
        out.append(
            Action(
                rule=rule.id,
                text=_text(found, entry),
                figure=found.figure,
                threshold=threshold,
                reach=found.reach,
                score=found.reach * strength,
                programme=entry.id,
                programme_name=entry.name,
                family=entry.family,
                basis=found.basis,
            )
        )
    return sorted(out, key=lambda a: (-a.score, a.rule))


#: The next-best programme family when a rule's own went to other segments (the cap), and why
#: it fits the same figure.
NEXT_BEST: dict[str, tuple[str, str]] = {
    "job switch": ("pay", "the same gap also closes, in part, at a pay review or an offer"),
    "pay": ("job switch", "the same gap also closes with a move to a better-paying job"),
    "growth": ("pay", "their pay against peers is the next thing to check"),
}


def _next_best(
    profile: Mapping[str, Any],
    population: Mapping[str, Any],
    fired: Sequence[Action],
    holders: Mapping[str, Sequence[int]],
    profiles: Sequence[Mapping[str, Any]],
    catalogue: Sequence[Course],
) -> Action | None:
    """The next-best career service of another family for a profile left without an action."""
    stage = career_stage(profile, population)
    for action in fired:
        family, why = NEXT_BEST.get(action.family, ("", ""))
        rule = next(r for r in CATALOGUE if r.id == action.rule)
        entry = _service(catalogue, family, rule.stage or stage) if family else None
        found = rule.measure(profile, population)
        if entry is None or found is None:
            continue
        if len(holders.get(entry.id, [])) >= MAX_SEGMENTS_PER_PROGRAMME:
            continue
        ids = " and ".join(
            str(x)
            for x in sorted(int(profiles[j]["id"]) for j in holders.get(action.programme, []))
        )
        few = f" ({few_text(found.basis)})" if found.basis < FEW_LEARNERS else ""
        text = (
            f"{found.evidence}{few}; {why}: offer {entry.name} ({action.programme_name}, the "
            f"first fit, went to segments {ids}, where it reaches more learners)."
        )
        return Action(
            rule=action.rule,
            text=text,
            figure=action.figure,
            threshold=action.threshold,
            reach=action.reach,
            score=action.score,
            programme=entry.id,
            programme_name=entry.name,
            family=entry.family,
            basis=action.basis,
        )
    return None


@dataclass
class _Choice:
    """The actions given to each profile, and where each programme went."""

    chosen: list[list[Action]]
    holders: dict[str, list[int]]
    fired: list[list[Action]]


def _choose(
    profiles: Sequence[Mapping[str, Any]],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
    catalogue: Sequence[Course],
) -> _Choice:
    fired = [fired_actions(p, population, thresholds, catalogue) for p in profiles]
    candidates = [(action, i) for i, actions in enumerate(fired) for action in actions]
    candidates.sort(key=lambda c: (-c[0].score, c[1], c[0].rule))
    chosen: list[list[Action]] = [[] for _ in profiles]
    holders: dict[str, list[int]] = {}
    for action, i in candidates:
        families = {a.family for a in chosen[i]}
        given = holders.setdefault(action.programme, [])
        if (
            len(chosen[i]) < MAX_PER_SEGMENT
            and action.family not in families
            and len(given) < MAX_SEGMENTS_PER_PROGRAMME
        ):
            chosen[i].append(action)
            given.append(i)
    for i, profile in enumerate(profiles):
        if chosen[i] or not fired[i]:
            continue
        extra = _next_best(profile, population, fired[i], holders, profiles, catalogue)
        if extra is not None:
            chosen[i].append(extra)
            holders.setdefault(extra.programme, []).append(i)
    return _Choice(chosen, holders, fired)


def assign_actions(
    profiles: Sequence[Mapping[str, Any]],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
    catalogue: Sequence[Course] = DEFAULT_COURSES,
) -> list[list[Action]]:
    """The actions of each profile: at most 3 each, one per programme family, each catalogue
    entry in at most 2 profiles.

    Candidates of all profiles are taken greedily by score, so a programme goes to the
    profiles where it reaches most.

    Parameters
    ----------
    profiles : sequence of mapping
        Profiles of one level (segments, or macro-segments).
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    thresholds : mapping of str to float
        Rule id -> threshold (:func:`fired_actions`).
    catalogue : sequence of Course
        The school's catalogue.

    Returns
    -------
    list of list of Action
        Each profile's actions (in the order of ``profiles``), best first.
    """
    return _choose(profiles, population, thresholds, catalogue).chosen


def _nearest(
    profile: Mapping[str, Any],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
) -> str:
    """Which rule came nearest to firing on a profile, in words."""
    best: tuple[float, Rule, Finding, float] | None = None
    for rule in CATALOGUE:
        threshold = float(thresholds.get(rule.id, DEFAULT_THRESHOLDS[rule.id]))
        found = rule.measure(profile, population)
        if found is None or threshold <= 0:
            continue
        ratio = found.figure / threshold
        if best is None or ratio > best[0]:
            best = (ratio, rule, found, threshold)
    if best is None:
        return "No rule of the catalogue applies to it."
    _, rule, found, threshold = best
    return (
        f"No rule of the catalogue fires on its figures: the nearest is the {rule.figure} at "
        f"{pct_text(found.figure)} (it fires from {pct_text(threshold)})."
    )


def _why_none(
    i: int,
    profiles: Sequence[Mapping[str, Any]],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
    choice: _Choice,
    level: str,
    catalogue: Sequence[Course] = DEFAULT_COURSES,
) -> str:
    """Why a profile has no action: nothing fires, or its programmes went elsewhere."""
    if not choice.fired[i]:
        return _nearest(profiles[i], population, thresholds)
    parts = []
    for action in choice.fired[i]:
        ids = sorted(int(profiles[j]["id"]) for j in choice.holders.get(action.programme, []))
        where = " and ".join(str(x) for x in ids)
        figure = next(r.figure for r in CATALOGUE if r.id == action.rule)
        alternative = ""
        family = NEXT_BEST.get(action.family, ("", ""))[0]
        other = next((c for c in catalogue if c.kind == CAREER and c.family == family), None)
        if other is not None and choice.holders.get(other.id):
            taken = " and ".join(
                str(x) for x in sorted(int(profiles[j]["id"]) for j in choice.holders[other.id])
            )
            alternative = f", and its next-best, {other.name}, went to {level}s {taken}"
        parts.append(
            f"{action.programme_name} (its {figure}: {pct_text(action.figure)}), which went to "
            f"{level}s {where}{alternative}"
        )
    return (
        f"Its figures call for {'; '.join(dict.fromkeys(parts))}: each programme goes to the "
        f"{MAX_SEGMENTS_PER_PROGRAMME} {level}s where it reaches the most learners."
    )


def recommend_profiles(
    profiles: list[dict[str, Any]],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
    catalogue: Sequence[Course] = DEFAULT_COURSES,
    *,
    level: str = "segment",
) -> None:
    """Give every profile its actions (:func:`assign_actions`), in place.

    Parameters
    ----------
    profiles : list of dict
        Profiles of one level (segments, or macro-segments). Sets ``actions`` (rule, text,
        figure, threshold, reach, score, programme, programme_name, family, basis, small),
        ``recommendations`` (the texts alone, as the service lists them) and ``no_action``
        (why there is none; None when there are actions).
    population : mapping
        All learners' figures (:func:`training.insights.profiles.population_summary`).
    thresholds : mapping of str to float
        Rule id -> threshold (``TrainingSettings.recommendation_thresholds``).
    catalogue : sequence of Course
        The school's catalogue (``TrainingSettings.catalogue()``).
    level : str, default="segment"
        What the profiles are, in words (``"macro-segment"``), for ``no_action``.
    """
    choice = _choose(profiles, population, thresholds, catalogue)
    for i, (profile, actions) in enumerate(zip(profiles, choice.chosen, strict=True)):
        profile["actions"] = [a.to_dict() for a in actions]
        profile["recommendations"] = [a.text for a in actions]
        profile["no_action"] = (
            None
            if actions
            else _why_none(i, profiles, population, thresholds, choice, level, catalogue)
        )


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
    """A profile's action of the widest reach, among those not counted on few learners.

    Parameters
    ----------
    profile : mapping
        A profile with its ``actions`` (:func:`recommend_profiles`).

    Returns
    -------
    dict or None
        A copy of the action of the widest reach (ties: by rule); None without actions, or
        when every action is ``small`` (a figure from fewer than ``FEW_LEARNERS`` learners is
        never put first).
    """
    actions = [a for a in profile["actions"] if not a.get("small", False)]
    actions.sort(key=lambda a: (-a["reach"], a["rule"]))
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


def summary_courses(
    segments: Sequence[Mapping[str, Any]],
    *,
    top: int = 3,
    names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The courses to offer first: the catalogue's courses by the learners who get them.

    A cohort is a segment's learners on one track (``cohorts`` of a segment profile); each of
    its learners gets the cohort's course at the learner's own career stage
    (:func:`training.insights.courses.course_learners`), so one cohort may count towards several
    courses. A cohort of fewer than ``FEW_LEARNERS`` learners (``small``) is never counted
    towards a course's rank.

    Parameters
    ----------
    segments : sequence of mapping
        Segment profiles; those without ``cohorts`` (a model trained before courses were
        chosen per cohort) give nothing.
    top : int, default=3
        The most courses returned.
    names : mapping of str to str, optional
        Course id -> name (the catalogue's); a course without one is named by its cohort's
        ``course_name`` or its id.

    Returns
    -------
    list of dict
        Up to ``top`` courses, most learners first (ties: by id): ``course``, ``course_name``,
        ``learners`` (in cohorts of at least ``FEW_LEARNERS``), ``low_confidence`` and
        ``cohorts`` (``segment_id``, ``segment_name``, ``track``, ``learners`` who get the
        course, largest first).
    """
    courses: dict[str, dict[str, Any]] = {}
    for segment in segments:
        for cohort in segment.get("cohorts") or []:
            if cohort.get("small") or int(cohort["learners"]) < FEW_LEARNERS:
                continue
            for course, learners, low in course_learners(cohort):
                own = cohort.get("course_name") if course == cohort["course"] else None
                entry = courses.setdefault(
                    course,
                    {
                        "course": course,
                        "course_name": str((names or {}).get(course) or own or course),
                        "learners": 0,
                        "low_confidence": 0,
                        "cohorts": [],
                    },
                )
                entry["learners"] += learners
                entry["low_confidence"] += low
                entry["cohorts"].append(
                    {
                        "segment_id": segment["id"],
                        "segment_name": segment.get("name", ""),
                        "track": cohort["track"],
                        "learners": learners,
                    }
                )
    ranked = sorted(courses.values(), key=lambda c: (-c["learners"], c["course"]))[:top]
    for entry in ranked:
        entry["cohorts"].sort(key=lambda c: (-c["learners"], c["segment_id"], c["track"]))
    return ranked
