"""Where each segment's learners go: the career path and the commonest what-if move.

``profiles.json``'s ``paths``, computed once at training time for the report (and any reader
of the profiles), from the runtime's rules so that a segment's figures are the sum of its
learners' answers from ``POST /v1/segment/explain``:

* **the path** (:func:`segment_paths`): each training learner's segment after 1, 2 and 3 more
  years at the same pay relative to experience peers, by
  :func:`training.runtime.explain.path_centres` (vectorised over the learners' features: all
  learners on scikit-learn, the evaluation sample on Spark), counted by destination segment;
* **the commonest move** (:func:`common_moves`): the what-if answers of the runtime
  :class:`~training.runtime.explain.Explainer` for a seeded sample of the training learners
  (``TrainingSettings.paths_sample``, 1,000 by default), each learner's cleaned values read as
  a ``/segment`` body (:func:`learner_columns`); the run computes them for the whole sample at
  once (:meth:`training.batch.explain.WhatIfs.reachable_moves`, the Explainer's answers to the
  rupee, 20-50x faster than one learner at a time). A learner counts for a move they would seek
  when the Explainer's smallest change of that kind leads to that segment: a raise of at most
  :data:`PAY_STEP` of their pay, or a company of a better-paying tier (pay cuts and
  lower-paying companies are answered per learner, not counted here). The move that applies to
  the largest share of a segment's sampled learners is its ``top_move``; a segment none of
  whose learners has such a move has none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.runtime.explain import path_centres
from training.runtime.kernel import Kernel
from training.runtime.schema import RAW_FIELDS

__all__ = [
    "PAY_STEP",
    "REPORT_YEARS",
    "MoveKey",
    "career_paths",
    "common_moves",
    "learner_columns",
    "learner_requests",
    "placed_segments",
    "segment_paths",
]

FloatArray = npt.NDArray[np.float64]

#: The years ahead the report shows (the runtime path also answers 5).
REPORT_YEARS: tuple[int, ...] = (1, 2, 3)
#: The largest pay change (as a share of the learner's pay) that counts as a move within reach.
PAY_STEP = 0.20


def segment_paths(
    kernel: Kernel, x: FloatArray, years: tuple[int, ...] = REPORT_YEARS
) -> dict[int, list[dict[str, Any]]]:
    """Each segment's learners by destination segment after each number of more years.

    Parameters
    ----------
    kernel : Kernel
        The model.
    x : ndarray, shape (n_learners, n_features)
        Learners' model features in ``kernel.features`` order.
    years : tuple of int
        The years ahead.

    Returns
    -------
    dict of int to list of dict
        Segment id -> one entry per year: ``{"years", "to": [{"segment_id", "learners",
        "share"}]}``, destinations by learners (most first), shares of the segment's learners.
        Empty when experience is not an input of the model.
    """
    if "years_experience" not in kernel.features or len(x) == 0:
        return {}
    ids = np.asarray(kernel.segment_ids)
    now = ids[kernel.assign(x)]
    later = ids[path_centres(kernel, x, years)]
    out: dict[int, list[dict[str, Any]]] = {}
    for segment in sorted(int(s) for s in np.unique(now)):
        members = now == segment
        size = int(members.sum())
        entries = []
        for i, n in enumerate(years):
            counts = Counter(later[members, i].tolist())
            to = [
                {"segment_id": int(s), "learners": int(c), "share": round(c / size, 4)}
                for s, c in sorted(counts.items(), key=lambda sc: (-sc[1], sc[0]))
            ]
            entries.append({"years": n, "to": to})
        out[segment] = entries
    return out


#: The ``/segment`` field of each cleaned learner column the what-ifs read.
_REQUEST_FIELDS = {
    "company_hash": "company",
    "orgyear": "orgyear",
    "ctc": "ctc",
    "job_position": "job_title",
    "ctc_updated_year": "ctc_updated_year",
}
_NUMBERS = frozenset({"orgyear", "ctc", "ctc_updated_year"})

#: A move within reach: (input, how, destination segment id), e.g. ("pay", "more", 3) or
#: ("company_tier", "tier 1", 2).
MoveKey = tuple[str, str, int]


def learner_columns(learners: pd.DataFrame) -> dict[str, npt.NDArray[Any]]:
    """Cleaned training learners as the raw columns placement reads (``/segment`` fields):
    numbers as float64 with NaN for missing, text as object arrays of str or None.

    Parameters
    ----------
    learners : DataFrame
        Cleaned learners with ``company``, ``orgyear``, ``ctc``, ``job_title`` and
        ``ctc_updated_year`` (the training learner table, or a sample of it).
    """
    out: dict[str, npt.NDArray[Any]] = {}
    for field, name in _REQUEST_FIELDS.items():
        column = learners[name]
        if field in _NUMBERS:
            out[field] = column.to_numpy(np.float64, na_value=np.nan)
        else:
            values = column.to_numpy(object).copy()
            values[column.isna().to_numpy(bool)] = None
            out[field] = values
    return out


def learner_requests(learners: pd.DataFrame) -> list[dict[str, Any]]:
    """The same learners as ``/segment`` bodies (:func:`learner_columns`, one dict each; a
    missing value is None), for the one-learner Explainer."""
    columns = learner_columns(learners)
    return [
        {
            field: None if v is None or (isinstance(v, float) and np.isnan(v)) else v
            for field, v in zip(columns, values, strict=True)
        }
        for values in zip(*(columns[f].tolist() for f in columns), strict=True)
    ]


def placed_segments(kernel: Kernel, requests: Sequence[Mapping[str, Any]]) -> list[int]:
    """The segment id of each ``/segment`` body, placed as the service places it."""
    if not requests:
        return []
    columns = {field: [r.get(field) for r in requests] for field in RAW_FIELDS}
    _, values = kernel.featurize(columns)
    centres = kernel.assign(kernel.matrix(values))
    return [int(s) for s in np.asarray(kernel.segment_ids)[centres]]


def common_moves(
    placed: Sequence[int], reachable: Sequence[Iterable[MoveKey]], *, top: int = 3
) -> dict[int, dict[str, Any]]:
    """The what-if moves within reach of each segment's learners, commonest first.

    Parameters
    ----------
    placed : sequence of int
        Each sampled learner's segment id.
    reachable : sequence of iterable of MoveKey
        Each learner's moves within reach (a raise of at most the pay step, a better-paying
        company tier: :meth:`training.batch.explain.WhatIfs.reachable_moves`).
    top : int
        How many moves to keep per segment.

    Returns
    -------
    dict of int to dict
        Segment id -> ``{"sampled": learners of the segment in the sample, "moves": [{"input",
        "direction" ("more" for pay, "tier <n>" for a company tier), "segment_id", "learners",
        "share"}]}``; a learner counts once per move.
    """
    sampled: Counter[int] = Counter()
    moves: dict[int, Counter[MoveKey]] = {}
    for segment, keys in zip(placed, reachable, strict=True):
        sampled[segment] += 1
        moves.setdefault(segment, Counter()).update(set(keys))
    out = {}
    for segment in sorted(sampled):
        n = sampled[segment]
        ranked = sorted(moves[segment].items(), key=lambda kc: (-kc[1], kc[0]))[:top]
        out[segment] = {
            "sampled": n,
            "moves": [
                {
                    "input": kind,
                    "direction": direction,
                    "segment_id": to,
                    "learners": count,
                    "share": round(count / n, 4),
                }
                for (kind, direction, to), count in ranked
            ],
        }
    return out


def career_paths(
    kernel: Kernel,
    names: Mapping[int, str],
    x: FloatArray,
    placed: Sequence[int],
    reachable: Sequence[Iterable[MoveKey]],
    *,
    pay_step: float = PAY_STEP,
) -> dict[str, Any]:
    """``profiles.json``'s ``paths``: each segment's path and commonest moves.

    Parameters
    ----------
    kernel : Kernel
        The model.
    names : mapping of int to str
        Each segment id's name.
    x : ndarray, shape (n_learners, n_features)
        The learners the paths count (:func:`segment_paths`).
    placed, reachable : sequence
        The learners the moves count (:func:`common_moves`: a seeded sample): each one's
        segment id and moves within reach of ``pay_step``.
    pay_step : float
        The largest pay change that counted as a move within reach.

    Returns
    -------
    dict
        ``years``, ``learners`` (counted for the paths), ``sampled`` (for the moves),
        ``pay_step`` and ``segments``: per segment id (as in ``profiles.json``'s segments),
        ``path`` (:func:`segment_paths`), ``moves`` and ``top_move`` (the commonest, or None).
    """
    paths = segment_paths(kernel, x)
    moves = common_moves(placed, reachable)

    def named(segment: int) -> dict[str, Any]:
        return {"segment_id": segment, "segment_name": names.get(segment, str(segment))}

    segments = []
    for segment in sorted(set(paths) | set(moves)):
        found = moves.get(segment, {"sampled": 0, "moves": []})
        ranked = [{**m, **named(int(m["segment_id"]))} for m in found["moves"]]
        segments.append(
            {
                "id": segment,
                "path": [
                    {"years": p["years"], "to": [{**t, **named(t["segment_id"])} for t in p["to"]]}
                    for p in paths.get(segment, [])
                ],
                "sampled": found["sampled"],
                "moves": ranked,
                "top_move": ranked[0] if ranked else None,
            }
        )
    return {
        "years": list(REPORT_YEARS),
        "learners": len(x),
        "sampled": len(placed),
        "pay_step": pay_step,
        "segments": segments,
    }
