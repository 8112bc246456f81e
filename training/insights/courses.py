"""A course for every cohort: the learners of one segment on one track, and the figures why.

A **cohort** is a segment x track (:mod:`training.runtime.tracks`). Every cohort gets the course
of the school's catalogue (``TrainingSettings.courses``, kind ``"course"``) it fits best
(:func:`choose_course`), given its track and its segment's **career stage**
(:func:`career_stage`: the segment's median experience against all learners' quartiles):

1. the courses whose tracks hold the track and whose stages (if any) hold the stage; those
   limited to stages first (they are the more specific), then in catalogue order;
2. else a course that lists the track at another stage (the track has no course at this
   stage), in catalogue order;
3. else (no course lists the track) the course of the track ``"other"`` by the same rules;
4. else the catalogue's first course.

Learners without a job title (track ``"unknown"``) are never guessed a track: their cohort gets
the commonest course of the same segment's learners with a known track (ties: catalogue order;
a segment without any: the course of ``"other"``), and its sentence says so.

A *placement* does not take the segment's stage: the same rules run at each of the three stages
(``by_stage``, frozen in ``segmenter.json``) and a learner gets its cohort's course at its **own**
stage (its years of experience against the same bounds,
:func:`training.runtime.courses.stage_of`). So a 12-year engineering manager in a segment of
mid-career learners gets the leadership course, and a 1-year backend engineer there the
software-development one. The segment's-stage course (``course``) stays in the table as the
course of the cohort's typical learner.

Either engine counts the cohorts (:class:`CohortFigures`: learners, median CTC, low-confidence
placements; :func:`cohort_figures` here with pandas, the Spark engine with a group-by); the
choice and the table are shared (:func:`choose_cohort_courses`), and :func:`with_cohorts` puts
the table into ``profiles.json``. The frozen choice (:class:`CohortCourses`) goes into
``segmenter.json``, so every placement answers its cohort's course.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.insights.figures import FEW_LEARNERS
from training.insights.wording import LPA
from training.runtime.courses import COURSE, STAGES, CohortCourses, Course, stage_of
from training.runtime.tracks import OTHER_TRACK, UNKNOWN_TRACK, Tracks

__all__ = [
    "SMALL_COHORT",
    "CohortFigures",
    "CourseChoice",
    "StageBounds",
    "career_stage",
    "choose_cohort_courses",
    "choose_course",
    "cohort_figures",
    "course_learners",
    "with_cohorts",
]

#: A cohort of fewer learners than this is marked ``small``: its figures are not ranked (the one
#: bar of every figure resting on few learners, :data:`training.insights.figures.FEW_LEARNERS`).
SMALL_COHORT = FEW_LEARNERS


@dataclass(frozen=True)
class CohortFigures:
    """The figures of one cohort (segment x track), whatever engine computed them.

    Attributes
    ----------
    learners : int
        Training learners of the segment on the track.
    ctc_median : float or None
        Their median CTC in INR (numpy's median; None when there is no learner).
    low_confidence : int
        Those of them whose placement is low-confidence (relative margin under the model's
        threshold).
    stages : tuple of (int, int), optional
        (learners, low-confidence) at each of their own career stages (:data:`STAGES` order):
        how many get each of the cohort's courses by stage. None: not counted (then the
        report counts every learner of the cohort at the segment's stage).
    """

    learners: int
    ctc_median: float | None
    low_confidence: int
    stages: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True)
class StageBounds:
    """All learners' experience quartiles that set a segment's career stage (years)."""

    early: float  # at or under: early (the 25th percentile)
    senior: float  # at or over: senior (the 75th percentile)

    def to_dict(self) -> dict[str, float]:
        return {
            "early_at_or_under": round(self.early, 2),
            "senior_at_or_over": round(self.senior, 2),
        }

    def words(self, stage: str) -> str:
        """The stage with its bound: ``senior: >= 8 years``."""
        if stage == "early":
            return f"early: at most {self.early:g} years"
        if stage == "senior":
            return f"senior: at least {self.senior:g} years"
        return f"mid: {self.early:g}-{self.senior:g} years"


def career_stage(years_median: float, bounds: StageBounds) -> str:
    """A segment's career stage from its median experience.

    Parameters
    ----------
    years_median : float
        The segment's median years of experience.
    bounds : StageBounds
        All learners' 25th and 75th percentiles of experience.

    Returns
    -------
    str
        ``"early"`` at or under the 25th percentile, ``"senior"`` at or over the 75th, else
        ``"mid"`` (early wins when both hold).
    """
    return stage_of(years_median, bounds.early, bounds.senior)


def choose_course(track: str, stage: str, catalogue: Sequence[Course]) -> tuple[Course, str]:
    """The course of the catalogue a track at a career stage fits best, and how it was found.

    Parameters
    ----------
    track : str
        A track id (not ``"unknown"``: see :func:`choose_cohort_courses`).
    stage : str
        ``"early"``, ``"mid"`` or ``"senior"``.
    catalogue : sequence of Course
        The school's catalogue, in its order; only entries of kind ``"course"`` are chosen.

    Returns
    -------
    (Course, str)
        The course and how it was found: ``"fits"`` (rule 1 of the module docstring),
        ``"other stage"`` (2), ``"unlisted"`` (3) or ``"first"`` (4).

    Raises
    ------
    ValueError
        The catalogue lists no course.
    """
    courses = [c for c in catalogue if c.kind == COURSE]
    if not courses:
        raise ValueError("The catalogue lists no course.")
    found = _listing(track, stage, courses)
    if found is not None:
        return found
    if track != OTHER_TRACK:
        other = _listing(OTHER_TRACK, stage, courses)
        if other is not None:
            return other[0], "unlisted"
    return courses[0], "first"


def _listing(track: str, stage: str, courses: Sequence[Course]) -> tuple[Course, str] | None:
    """Rules 1 and 2 of the module docstring for one track (None: no course lists it)."""
    fitting = [c for c in courses if c.fits(track, stage)]
    if fitting:  # stage-limited entries first; sorted() keeps catalogue order within each
        return sorted(fitting, key=lambda c: not c.stages)[0], "fits"
    listing = [c for c in courses if c.fits(track)]
    return (listing[0], "other stage") if listing else None


def cohort_figures(
    segments: npt.NDArray[np.intp],
    tracks: Sequence[str] | npt.NDArray[np.object_],
    ctc: npt.NDArray[np.float64],
    low_confidence: npt.NDArray[np.bool_],
    stage: npt.NDArray[np.intp] | None = None,
) -> dict[tuple[int, str], CohortFigures]:
    """The figures of every cohort present, with pandas.

    Parameters
    ----------
    segments : ndarray of int, shape (n_learners,)
        Each learner's public segment id.
    tracks : sequence of str, length n_learners
        Each learner's track id.
    ctc : ndarray of float, shape (n_learners,)
        Each learner's cleaned CTC (INR).
    low_confidence : ndarray of bool, shape (n_learners,)
        Whether each learner's placement is low-confidence.
    stage : ndarray of intp, shape (n_learners,), optional
        Each learner's own career stage (index into :data:`STAGES`): the figures then count
        each cohort's learners at every stage.

    Returns
    -------
    dict of (int, str) to CohortFigures
        Every (segment id, track) with at least one learner.
    """
    frame = pd.DataFrame(
        {
            "segment": np.asarray(segments, np.int64),
            "track": np.asarray(tracks, dtype=object),
            "ctc": np.asarray(ctc, np.float64),
            "low": np.asarray(low_confidence, bool),
        }
    )
    grouped = frame.groupby(["segment", "track"], sort=True).agg(
        learners=("ctc", "size"), ctc=("ctc", "median"), low=("low", "sum")
    )
    flat = grouped.reset_index()
    staged: dict[tuple[int, str], list[list[int]]] = {}
    if stage is not None:
        by = frame.assign(stage=np.asarray(stage, np.int64)).groupby(
            ["segment", "track", "stage"], sort=True
        )
        counted = by.agg(learners=("ctc", "size"), low=("low", "sum")).reset_index()
        for segment, track, g, n, low in counted.itertuples(index=False):
            cell = staged.setdefault((int(segment), str(track)), [[0, 0] for _ in STAGES])
            cell[int(g)] = [int(n), int(low)]
    return {
        (int(segment), str(track)): CohortFigures(
            int(learners),
            float(ctc),
            int(low),
            None
            if stage is None
            else tuple((n, lo) for n, lo in staged[(int(segment), str(track))]),
        )
        for segment, track, learners, ctc, low in zip(
            flat["segment"].tolist(),
            flat["track"].tolist(),
            flat["learners"].tolist(),
            flat["ctc"].tolist(),
            flat["low"].tolist(),
            strict=True,
        )
    }


@dataclass(frozen=True)
class CourseChoice:
    """Every cohort's course, and the table ``profiles.json`` shows.

    Attributes
    ----------
    courses : CohortCourses
        The course of every segment x track (``segmenter.json``'s ``cohorts``).
    table : dict of int to list of dict
        Segment id -> its cohorts (every track), by learners (most first), then track order:
        ``track``, ``learners``, ``share``, ``median_ctc_lpa``, ``course`` and ``course_name``
        (at the segment's career stage), ``by_stage`` (stage -> the course a learner of the cohort
        gets at its own stage: what placements answer), ``why``, ``low_confidence``, ``small``.
    stages : dict of int to str
        Segment id -> its career stage.
    bounds : StageBounds
    """

    courses: CohortCourses
    table: dict[int, list[dict[str, Any]]]
    stages: dict[int, str]
    bounds: StageBounds


def choose_cohort_courses(
    figures: Mapping[tuple[int, str], CohortFigures],
    years_median: Mapping[int, float],
    bounds: StageBounds,
    tracks: Tracks,
    catalogue: Sequence[Course],
) -> CourseChoice:
    """The course of every cohort, with the figures that justify it.

    Parameters
    ----------
    figures : mapping of (int, str) to CohortFigures
        The cohorts with learners (others count as empty).
    years_median : mapping of int to float
        Every segment id -> its median years of experience.
    bounds : StageBounds
        All learners' experience quartiles.
    tracks : Tracks
        The model's title -> track map (its ids, other and unknown included, and names).
    catalogue : sequence of Course
        The school's catalogue.

    Returns
    -------
    CourseChoice
    """
    ids, names = tracks.ids, tracks.names()
    empty = CohortFigures(0, None, 0)
    # Figures counted by the learners' own stage (the scikit-learn engine) give every row its
    # learners at each stage; without them the report counts a cohort at the segment's stage.
    counted = any(f.stages is not None for f in figures.values())
    table: dict[int, list[dict[str, Any]]] = {}
    stages: dict[int, str] = {}
    course_rows: list[list[str]] = []
    stage_rows: list[list[list[str]]] = []
    used: dict[str, str] = {}
    for segment in sorted(years_median):
        stage = stages[segment] = career_stage(years_median[segment], bounds)
        cohort = {t: figures.get((segment, t), empty) for t in ids}
        size = sum(f.learners for f in cohort.values())
        rows: dict[str, dict[str, Any]] = {}
        for track in ids:
            if track == UNKNOWN_TRACK:
                continue
            course, how = choose_course(track, stage, catalogue)
            why = _why(cohort[track].learners, names[track], years_median[segment], stage, bounds)
            reason = _how(how, course, track, stage)
            rows[track] = _row(track, cohort[track], size, course, f"{why}{reason}")
        rows[UNKNOWN_TRACK] = _unknown_row(
            cohort, size, rows, stage, catalogue, {c.id: c for c in catalogue}
        )
        staged = _by_stage(ids, cohort, catalogue)
        for track in ids:
            rows[track]["by_stage"] = dict(zip(STAGES, staged[track], strict=True))
            if counted:
                counts = cohort[track].stages or tuple((0, 0) for _ in STAGES)
                rows[track]["learners_by_stage"] = {
                    g: n for g, (n, _) in zip(STAGES, counts, strict=True)
                }
                rows[track]["low_confidence_by_stage"] = {
                    g: low for g, (_, low) in zip(STAGES, counts, strict=True)
                }
            rows[track]["why"] += _stage_words(staged[track], catalogue)
        for row in rows.values():
            used[row["course"]] = row["course_name"]
        used.update({c.id: c.name for c in catalogue if c.id in _flat(staged)})
        course_rows.append([rows[t]["course"] for t in ids])
        stage_rows.append([list(staged[t]) for t in ids])
        order = {t: j for j, t in enumerate(ids)}
        table[segment] = sorted(rows.values(), key=lambda r: (-r["learners"], order[r["track"]]))
    courses = CohortCourses(
        tracks=list(ids),
        segment_ids=sorted(years_median),
        course=course_rows,
        names=used,
        by_stage=stage_rows,
        stage_bounds=(float(bounds.early), float(bounds.senior)),
    )
    return CourseChoice(courses=courses, table=table, stages=stages, bounds=bounds)


def _by_stage(
    ids: Sequence[str], cohort: Mapping[str, CohortFigures], catalogue: Sequence[Course]
) -> dict[str, tuple[str, ...]]:
    """Every track's course at each career stage (a learner's own stage, :data:`STAGES` order).

    A known track: :func:`choose_course` at that stage. Unknown (never guessed): at each stage,
    the commonest course of the segment's titled learners at that stage (tracks weighted by their
    learners; ties: catalogue order); a segment without any: the course of ``"other"``.
    """
    staged = {
        t: tuple(choose_course(t, g, catalogue)[0].id for g in STAGES)
        for t in ids
        if t != UNKNOWN_TRACK
    }
    order = {c.id: i for i, c in enumerate(catalogue)}
    unknown = []
    for s, stage in enumerate(STAGES):
        votes: dict[str, int] = {}
        for track, courses in staged.items():
            votes[courses[s]] = votes.get(courses[s], 0) + cohort[track].learners
        if sum(votes.values()) == 0:
            unknown.append(choose_course(OTHER_TRACK, stage, catalogue)[0].id)
        else:
            unknown.append(min(votes, key=lambda c: (-votes[c], order.get(c, len(order)))))
    staged[UNKNOWN_TRACK] = tuple(unknown)
    return staged


def _stage_words(courses: Sequence[str], catalogue: Sequence[Course]) -> str:
    """The end of a cohort's sentence when a learner's own stage changes its course."""
    if len(set(courses)) == 1:
        return ""
    names = {c.id: c.name for c in catalogue}
    each = "; ".join(f"{g}: {names.get(c, c)}" for g, c in zip(STAGES, courses, strict=True))
    return f" A learner's own career stage picks the course ({each})."


def _flat(staged: Mapping[str, Sequence[str]]) -> set[str]:
    return {c for courses in staged.values() for c in courses}


def _learners(n: int) -> str:
    if n == 0:
        return "No training learner"
    return f"{n:,} learner{'' if n == 1 else 's'}"


def _why(n: int, track_name: str, years: float, stage: str, bounds: StageBounds) -> str:
    return (
        f"{_learners(n)} on {track_name}, segment median {years:.1f} years ({bounds.words(stage)})"
    )


def _how(how: str, course: Course, track: str = "", stage: str = "") -> str:
    """The end of a cohort's sentence: its course and why. The course follows the track and the
    segment's career stage (never its pay), and the sentence says which of them chose it."""
    if how == "fits":
        if track == OTHER_TRACK:
            return (
                f": {course.name}, the catalogue's course for titles no track matches (a "
                "general software course; give the learner's title a track for a closer one)."
            )
        return (
            f": {course.name}, the catalogue's course for this track at the {stage} career stage."
        )
    if how == "other stage":
        stages = " or ".join(course.stages)
        return f": no course fits this track at this stage, so {course.name} (for {stages})."
    if how == "unlisted":
        return f": no course lists this track, so the one for other titles, {course.name}."
    return f": no course fits, so the catalogue's first, {course.name}."


def _row(track: str, figures: CohortFigures, size: int, course: Course, why: str) -> dict[str, Any]:
    """One cohort of the table (see :class:`CourseChoice`)."""
    median = figures.ctc_median
    return {
        "track": track,
        "learners": figures.learners,
        "share": round(figures.learners / size, 4) if size else 0.0,
        "median_ctc_lpa": None
        if median is None or not figures.learners
        else round(median / LPA, 2),
        "course": course.id,
        "course_name": course.name,
        "why": why,
        "low_confidence": figures.low_confidence,
        "small": figures.learners < SMALL_COHORT,
    }


def _unknown_row(
    cohort: Mapping[str, CohortFigures],
    size: int,
    rows: Mapping[str, Mapping[str, Any]],
    stage: str,
    catalogue: Sequence[Course],
    by_id: Mapping[str, Course],
) -> dict[str, Any]:
    """The cohort without a job title: the commonest course of the segment's titled learners."""
    votes: dict[str, int] = {}
    for row in rows.values():
        votes[row["course"]] = votes.get(row["course"], 0) + int(row["learners"])
    known = sum(votes.values())
    figures = cohort[UNKNOWN_TRACK]
    head = f"{_learners(figures.learners)} without a job title (track unknown, never guessed)"
    if known == 0:
        course = choose_course(OTHER_TRACK, stage, catalogue)[0]
        why = (
            f"{head}; no learner of the segment has a known track, so the course for other "
            f"titles: {course.name}."
        )
        return _row(UNKNOWN_TRACK, figures, size, course, why)
    order = {c.id: i for i, c in enumerate(catalogue)}
    best = min(votes, key=lambda c: (-votes[c], order.get(c, len(order))))
    course = by_id[best]
    why = (
        f"{head}: the commonest course of the segment's learners with a known track "
        f"({votes[best]:,} of {known:,}), {course.name}."
    )
    return _row(UNKNOWN_TRACK, figures, size, course, why)


def course_learners(cohort: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """A cohort row's learners by the course they get: (course id, learners, low-confidence).

    Each learner gets the cohort's course at its own career stage (``by_stage`` with
    ``learners_by_stage``); a row without them (an older model, or figures counted without
    stages) counts every learner under ``course``. Courses in :data:`STAGES` order, each once,
    those without learners left out unless the cohort has none.
    """
    by_stage, counts = cohort.get("by_stage"), cohort.get("learners_by_stage")
    if not by_stage or counts is None:
        return [(str(cohort["course"]), int(cohort["learners"]), int(cohort["low_confidence"]))]
    low = cohort.get("low_confidence_by_stage") or {}
    found: dict[str, list[int]] = {}
    for stage in STAGES:
        n = int(counts.get(stage, 0))
        if n:
            entry = found.setdefault(str(by_stage[stage]), [0, 0])
            entry[0] += n
            entry[1] += int(low.get(stage, 0))
    if not found:
        return [(str(cohort["course"]), 0, 0)]
    return [(course, n, lo) for course, (n, lo) in found.items()]


def with_cohorts(
    document: Mapping[str, Any], choice: CourseChoice, tracks: Tracks, catalogue: Sequence[Course]
) -> dict[str, Any]:
    """``profiles.json`` with the cohorts: each segment's table and career stage, the tracks and
    the catalogue.

    Parameters
    ----------
    document : mapping
        The ``profiles.json`` document (:func:`training.insights.profiles.profiles_document`).
    choice : CourseChoice
        Every cohort's course (:func:`choose_cohort_courses`).
    tracks : Tracks
        The model's title -> track map.
    catalogue : sequence of Course
        The school's catalogue.

    Returns
    -------
    dict
        A new document: every segment gains ``cohorts`` (its table), ``career_stage`` and
        ``low_confidence_share`` (its cohorts' low-confidence learners over its learners);
        the document gains ``tracks`` (``[{id, name}]``, other and unknown included),
        ``catalogue`` (every entry) and ``career_stages`` (the experience bounds).
    """
    segments = []
    for segment in document["segments"]:
        sid = int(segment["id"])
        rows = choice.table[sid]
        size = sum(r["learners"] for r in rows)
        low = sum(r["low_confidence"] for r in rows)
        segments.append(
            {
                **segment,
                "career_stage": choice.stages[sid],
                "cohorts": rows,
                "low_confidence_share": round(low / size, 4) if size else 0.0,
            }
        )
    names = tracks.names()
    return {
        **document,
        "segments": segments,
        "tracks": [{"id": t, "name": names[t]} for t in tracks.ids],
        "catalogue": [c.to_dict() for c in catalogue],
        "career_stages": choice.bounds.to_dict(),
    }
