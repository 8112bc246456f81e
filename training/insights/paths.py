"""Where each segment's learners go: the career path and the commonest what-if move.

``profiles.json``'s ``paths``, computed once at training time for the report (and any reader
of the profiles), from the runtime's rules so that a segment's figures are the sum of its
learners' answers from ``POST /v1/segment/explain``:

* **the path** (:func:`segment_paths`): each training learner's segment after 1, 2 and 3 more
  years at the same pay relative to experience peers, by
  :func:`training.runtime.explain.path_centres` (vectorised over the learners' features: all
  learners on scikit-learn, the evaluation sample on Spark), counted by destination segment;
* **the commonest move** (:func:`common_moves`): the runtime
  :class:`~training.runtime.explain.Explainer` run on a seeded sample of the training learners
  (``TrainingSettings.paths_sample``, 1,000 by default: 0.5-1.5 ms each), each learner's
  cleaned values sent as a ``/segment`` body. A learner counts for a move they would seek when
  the Explainer's smallest change of that kind leads to that segment: a raise of at most
  :data:`PAY_STEP` of their pay, or a company of a better-paying tier (pay cuts and
  lower-paying companies are answered per learner, not counted here). The move that applies to
  the largest share of a segment's sampled learners is its ``top_move``; a segment none of
  whose learners has such a move has none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.runtime.explain import Explainer, path_centres
from training.runtime.kernel import Kernel
from training.runtime.schema import RAW_FIELDS

__all__ = [
    "PAY_STEP",
    "REPORT_YEARS",
    "career_paths",
    "common_moves",
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


def learner_requests(learners: pd.DataFrame) -> list[dict[str, Any]]:
    """Cleaned training learners as ``/segment`` bodies (the Explainer's input).

    Parameters
    ----------
    learners : DataFrame
        Cleaned learners with ``company``, ``orgyear``, ``ctc``, ``job_title`` and
        ``ctc_updated_year`` (the training learner table, or a sample of it).
    """

    def value(v: Any) -> Any:
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else v

    columns = {
        "company_hash": "company",
        "orgyear": "orgyear",
        "ctc": "ctc",
        "job_position": "job_title",
        "ctc_updated_year": "ctc_updated_year",
    }
    rows = learners[list(columns.values())].to_dict(orient="records")
    return [{field: value(row[name]) for field, name in columns.items()} for row in rows]


def placed_segments(kernel: Kernel, requests: Sequence[Mapping[str, Any]]) -> list[int]:
    """The segment id of each ``/segment`` body, placed as the service places it."""
    if not requests:
        return []
    columns = {field: [r.get(field) for r in requests] for field in RAW_FIELDS}
    _, values = kernel.featurize(columns)
    centres = kernel.assign(kernel.matrix(values))
    return [int(s) for s in np.asarray(kernel.segment_ids)[centres]]


def _move_key(entry: Mapping[str, Any], pay_step: float) -> tuple[str, str, int] | None:
    """(input, how, destination) of a what-if entry a learner would seek and can reach: a raise
    of at most ``pay_step``, or a better-paying company tier; None otherwise."""
    if entry.get("segment_id") is None:
        return None
    if entry["input"] == "pay" and entry["direction"] == "more":
        if float(entry["relative"]) > pay_step:
            return None
        return ("pay", "more", int(entry["segment_id"]))
    if entry["input"] == "company_tier" and entry["direction"] == "better-paying":
        return ("company_tier", f"tier {entry['tier']}", int(entry["segment_id"]))
    return None


def common_moves(
    explainer: Explainer,
    requests: Sequence[Mapping[str, Any]],
    *,
    pay_step: float = PAY_STEP,
    top: int = 3,
) -> dict[int, dict[str, Any]]:
    """The what-if moves within reach of each segment's learners, commonest first.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    requests : sequence of mapping
        Learners as ``/segment`` bodies (:func:`learner_requests`).
    pay_step : float
        The largest pay change, as a share of the learner's pay, that counts.
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
    moves: dict[int, Counter[tuple[str, str, int]]] = {}
    for request, segment in zip(requests, placed_segments(explainer.kernel, requests), strict=True):
        sampled[segment] += 1
        keys = {_move_key(e, pay_step) for e in explainer.explain(request)["what_if"]}
        moves.setdefault(segment, Counter()).update(k for k in keys if k is not None)
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
    explainer: Explainer,
    x: FloatArray,
    requests: Sequence[Mapping[str, Any]],
    *,
    pay_step: float = PAY_STEP,
) -> dict[str, Any]:
    """``profiles.json``'s ``paths``: each segment's path and commonest moves.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer (its kernel, courses and names).
    x : ndarray, shape (n_learners, n_features)
        The learners the paths count (:func:`segment_paths`).
    requests : sequence of mapping
        The learners the moves count (:func:`common_moves`): a seeded sample.
    pay_step : float
        The largest pay change that counts as a move within reach.

    Returns
    -------
    dict
        ``years``, ``learners`` (counted for the paths), ``sampled`` (for the moves),
        ``pay_step`` and ``segments``: per segment id (as in ``profiles.json``'s segments),
        ``path`` (:func:`segment_paths`), ``moves`` and ``top_move`` (the commonest, or None).
    """
    names = explainer.names
    paths = segment_paths(explainer.kernel, x)
    moves = common_moves(explainer, requests, pay_step=pay_step)

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
        "sampled": len(requests),
        "pay_step": pay_step,
        "segments": segments,
    }
