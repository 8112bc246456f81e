"""Placing raw learners on the runtime kernel: the edge rules, and many learners at once.

One implementation for everything that places a batch of raw rows: the service's
``/segment/batch`` (:meth:`service.segmenter.Segmenter.place`), ``python -m training assign``
(:mod:`training.batch.assign`, local and on Spark executors) and ``python -m training drift``.

* :func:`learner_errors` is the service's edge rules (a request body's bounds, see
  ``service.schemas.Learner``) over raw columns: which rows cannot be placed, and why, in the
  service's own words. The bounds are defined here once (:data:`LIMITS`); the service's request
  model reads them.
* :func:`place` cleans the raw columns with the frozen rules, computes the model's features,
  finds the nearest and runner-up centres, each learner's track and (given the model's
  :class:`~training.runtime.courses.CohortCourses`) the course of its cohort, and words every
  warning: a :class:`Placement`, whose row i is the i-th learner.
* :func:`learner_track` is the track of one raw title, as :func:`place` finds it (the service's
  single learner).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from training.runtime.cleaning import (
    WARNING_RULES,
    CleaningRules,
    CleanRows,
    describe_rows,
    fold_title,
)
from training.runtime.courses import EXPERIENCE, CohortCourses
from training.runtime.features import FALLBACK_FLAGS, FALLBACKS, fallback_masks
from training.runtime.kernel import Kernel
from training.runtime.ops import Coded
from training.runtime.schema import RAW_FIELDS

__all__ = [
    "LIMITS",
    "Limits",
    "Placement",
    "learner_errors",
    "learner_track",
    "place",
    "raw_columns",
]


@dataclass(frozen=True)
class Limits:
    """The bounds a raw learner must respect to be placed (the service's request bounds)."""

    ctc_max: float = 1e12  # ctc must be > 0 and at most this
    year_min: float = 0.0  # orgyear and ctc_updated_year, when given
    year_max: float = 100_000.0
    text_max: int = 200  # company_hash and job_position, characters
    email_max: int = 128  # email_hash, characters
    learner_id_max: int = 128  # learner_id (the caller's own id, echoed), characters


#: The bounds of a placeable learner (``service.schemas.Learner`` is built from them).
LIMITS = Limits()

_YEARS = ("orgyear", "ctc_updated_year")


def learner_errors(
    columns: Mapping[str, Any], lengths: Mapping[str, npt.NDArray[np.int64]] | None = None
) -> list[str | None]:
    """Why each row cannot be placed (None when it can), as the service words it.

    Parameters
    ----------
    columns : mapping of str to sequence, each of length n
        ``RAW_FIELDS`` (numbers as floats with NaN or None for missing, text as str or None,
        or a :class:`~training.runtime.ops.Coded` text column) and optionally ``email_hash``
        and ``learner_id``; a missing column counts as missing values.
    lengths : mapping of str to ndarray of int, optional
        The length in characters (0 for a missing value) of each value of a text column not
        given in ``columns`` (``email_hash`` or ``learner_id`` counted by a reader, without
        making its strings).

    Returns
    -------
    list of (str or None), length n
        ``"ctc: Input should be greater than 0"`` and the like, several joined by ``"; "``, in
        the order of the fields; None for a row the service would place.
    """
    ctc = _floats(columns["ctc"])
    n = len(ctc)
    # In the order of the request model's fields, as the service lists a body's errors.
    problems: list[tuple[str, npt.NDArray[np.bool_]]] = []
    with np.errstate(invalid="ignore"):
        for name in RAW_FIELDS:
            if name == "ctc":
                high = f"ctc: Input should be less than or equal to {LIMITS.ctc_max:.0f}"
                problems += [
                    ("ctc: Input should be a valid number", np.isnan(ctc)),
                    ("ctc: Input should be greater than 0", ctc <= 0),
                    (high, ctc > LIMITS.ctc_max),
                ]
            elif name in columns and name in _YEARS:
                years = _floats(columns[name])
                low = f"{name}: Input should be greater than or equal to {LIMITS.year_min:.0f}"
                high = f"{name}: Input should be less than or equal to {LIMITS.year_max:.0f}"
                problems += [(low, years < LIMITS.year_min), (high, years > LIMITS.year_max)]
            elif name in columns:
                problems.append(_too_long(name, columns[name], LIMITS.text_max))
    for name, limit in (("email_hash", LIMITS.email_max), ("learner_id", LIMITS.learner_id_max)):
        if name in columns:
            problems.append(_too_long(name, columns[name], limit))
        elif lengths is not None and name in lengths:
            problems.append((_too_long_message(name, limit), np.asarray(lengths[name]) > limit))
    out: list[str | None] = [None] * n
    for message, mask in problems:
        for i in np.flatnonzero(mask).tolist():
            current = out[i]
            out[i] = message if current is None else f"{current}; {message}"
    return out


def _floats(values: Sequence[Any]) -> npt.NDArray[np.float64]:
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _too_long_message(name: str, limit: int) -> str:
    return f"{name}: String should have at most {limit} characters"


def _too_long(name: str, values: Any, limit: int) -> tuple[str, npt.NDArray[np.bool_]]:
    if isinstance(values, Coded):  # each distinct value once
        message, bad = _too_long(name, values.uniques, limit)
        return message, bad[values.codes] if bad.any() else np.zeros(len(values), dtype=bool)
    message = _too_long_message(name, limit)
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    try:  # the usual case, no text over the limit, found at C speed
        longest = max(map(len, filter(None, items)), default=0)
    except TypeError:  # something that is not text: look row by row
        longest = limit + 1
    if longest <= limit:
        return message, np.zeros(len(items), dtype=bool)
    mask = np.fromiter(
        (isinstance(v, str) and len(v) > limit for v in items), dtype=bool, count=len(items)
    )
    return message, mask


@dataclass(frozen=True, slots=True)
class Placement:
    """Learners placed at once; row i of every field is the i-th learner.

    ``segment_counts`` says how many learners each segment id got, and ``warning_counts`` how
    many each warning rule (a name of ``WARNING_RULES``) or peer-group fallback (a key of
    ``FALLBACKS``) warned. ``track`` and ``course`` are codes: learner i is on track
    ``tracks[track[i]]`` and its cohort's course is ``courses[course[i]]``, named
    ``course_names[course[i]]`` (``course`` is None when placed without the model's cohorts).
    """

    nearest: npt.NDArray[np.intp]  # index of the nearest centre
    distance: npt.NDArray[np.float64]
    runner_up: npt.NDArray[np.intp] | None  # None when the model has a single segment
    runner_up_distance: npt.NDArray[np.float64] | None
    relative_margin: npt.NDArray[np.float64] | None  # (d2 - d1) / d2, computed once here
    features: npt.NDArray[np.float64]  # (n, n_features): the model's features, in its order
    warnings: list[list[str]]
    segment_counts: dict[int, int]
    warning_counts: dict[str, int]
    track: npt.NDArray[np.intp]
    tracks: tuple[str, ...]
    course: npt.NDArray[np.intp] | None = None
    courses: tuple[str, ...] = ()
    course_names: tuple[str, ...] = ()

    def track_ids(self) -> list[str]:
        """Each learner's track id, in order."""
        return [self.tracks[i] for i in self.track.tolist()]

    def course_ids(self) -> list[str] | None:
        """Each learner's course id, in order (None when placed without the cohorts)."""
        if self.course is None:
            return None
        return [self.courses[i] for i in self.course.tolist()]


def place(
    model: Kernel,
    columns: Mapping[str, Any],
    history: Mapping[str, Any] | None = None,
    *,
    cohorts: CohortCourses | None = None,
) -> Placement:
    """Place learners given as raw columns, all at once, on the numpy backend.

    Parameters
    ----------
    model : Kernel
        The model (its frozen rules, peer tables and centres).
    columns : mapping of str to sequence or ndarray, each of length n
        ``RAW_FIELDS``; every ``ctc`` must be positive (see :func:`learner_errors`).
    history : mapping, optional
        ``n_records`` and ``ctc_growth`` arrays of length n, for learners collapsed from several
        rows; without it every learner has one record and no growth (as a served learner).
    cohorts : CohortCourses, optional
        The model's course of every segment x track (``segmenter.json``'s ``cohorts``): each
        learner then gets its cohort's course at its own career stage (its years of experience).

    Returns
    -------
    Placement

    Raises
    ------
    ValueError
        If a row has no usable ``ctc``.
    """
    clean, values = model.featurize(columns, (*FALLBACK_FLAGS, EXPERIENCE), history)
    if not np.all(clean.valid):
        raise ValueError("ctc must be a positive number for a learner to be placed.")
    x = model.matrix(values)
    found = model.nearest(x)
    nearest = found.nearest
    warnings = describe_rows(clean, columns)
    counts = {name: int(np.count_nonzero(clean.touched[name])) for name in WARNING_RULES}
    for name, mask in fallback_masks(clean, values).items():
        warned = np.flatnonzero(mask).tolist()
        counts[name] = len(warned)
        for i in warned:
            warnings[i].append(FALLBACKS[name])
    tracks = tuple(model.rules.tracks.ids)
    track = _track_codes(clean, tracks)
    courses: dict[str, Any] = {}
    if cohorts is not None:
        columns_of = np.array([cohorts.track_index(t) for t in tracks], dtype=np.intp)
        years = np.asarray(values[EXPERIENCE], np.float64)
        courses = {
            "course": cohorts.learner_codes(
                model.segment_ids.tolist(), nearest, columns_of[track], years
            ),
            "courses": cohorts.courses,
            "course_names": tuple(cohorts.names[c] for c in cohorts.courses),
        }
    return Placement(
        nearest=nearest,
        distance=found.distance,
        runner_up=found.runner_up,
        runner_up_distance=found.runner_up_distance,
        relative_margin=found.relative_margin,
        features=x,
        warnings=warnings,
        segment_counts=dict(
            zip(
                model.segment_ids.tolist(),
                np.bincount(nearest, minlength=len(model.segment_ids)).tolist(),
                strict=True,
            )
        ),
        warning_counts=counts,
        track=track,
        tracks=tracks,
        **courses,
    )


def _track_codes(clean: CleanRows, tracks: Sequence[str]) -> npt.NDArray[np.intp]:
    """Each cleaned learner's track as an index into ``tracks`` (the model's own track ids)."""
    index = {t: j for j, t in enumerate(tracks)}
    coded = clean.coded.get("track")
    if coded is not None:  # each distinct raw title once
        table = np.array([index[t] for t in coded.uniques], dtype=np.intp)
        return table[coded.codes] if len(table) else np.zeros(len(coded), np.intp)
    return np.array(list(map(index.__getitem__, clean.track.tolist())), dtype=np.intp)


def learner_track(rules: CleaningRules, job_position: Any) -> str:
    """The track of one learner's raw title, as :func:`place` (the cleaning rules) finds it.

    A missing, blank or placeholder title is ``"unknown"``, never guessed; any other title is
    folded and matched against the model's map (``rules.tracks``).
    """
    key = fold_title(job_position) if isinstance(job_position, str) else None
    return rules.tracks.of(key)


def raw_columns(learners: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Learners given as mappings of raw fields, as the columns :func:`place` reads."""
    return {name: [learner.get(name) for learner in learners] for name in RAW_FIELDS}
