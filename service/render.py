"""The ``/segment/batch`` response body, written column by column.

The body is byte for byte ``orjson.dumps({"results": [...]})`` of the items in index order: a
placed learner as ``{"index": i, **assignment.to_dict()}`` (``Segmenter.assignments``), an invalid
item as its error object. Written that way it takes twice as long (an ``Assignment`` and a dict
per learner) and costs 15-22 % of the endpoint's learners/s, so a placement is written straight
from its numpy columns instead (docs/benchmarks.md, "Writing the batch answer"):

- A learner's JSON object is a row of *pieces*: ``{"index":`` and its index, then, for every key
  of ``Assignment.FIELDS`` (where the shape is defined, once), ``,"key":`` and the pieces of its
  value, then ``}``. :data:`_VALUES` names the function that writes each key's value; a key
  without one stops the import.
- A piece is one ``bytes`` for every learner (``null``, the model version) or one ``bytes`` per
  learner: the numbers of a column are written by one ``orjson.dumps`` of the numpy column
  (:func:`_numbers`, so they read exactly as orjson writes them), and what depends only on the
  learner's centre (its segment's id, name, coarse id), track or course once per value
  (:func:`_per_centre`, indexed by the placement's codes).
- Each row is joined into its object, and the objects, in index order, into the body.

A learner that sent a ``learner_id`` or an ``email_hash`` gets them echoed after ``index``, in
that order (so a caller can match results by learner, not only by position); ``compact=True``
writes only ``Assignment.COMPACT_FIELDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import orjson

from service.segmenter import Assignment, Segmenter
from training.runtime.kernel import HIGH, LOW
from training.runtime.placement import Placement

__all__ = ["render_batch"]

#: Part of every learner's object: the same bytes for each, or one bytes per learner.
Piece = bytes | Sequence[bytes] | np.ndarray[Any, Any]


def render_batch(
    segmenter: Segmenter,
    parts: Sequence[tuple[Placement, Sequence[int]]],
    errors: Mapping[int, dict[str, Any]],
    hashes: Mapping[int, str] | None = None,
    *,
    learner_ids: Mapping[int, str] | None = None,
    compact: bool = False,
) -> bytes:
    """``{"results": [...]}``: every placed learner at its index, ``errors`` at theirs.

    ``parts`` holds learners placed together and their item indices (``indices[i]`` is the
    index of the i-th learner of that placement); ``errors`` maps the index of every other item
    to its JSON object. ``learner_ids`` and ``hashes`` map the index of a placed learner that
    sent a ``learner_id`` or an ``email_hash`` to it: its object echoes them right after
    ``index``. ``compact`` writes only the keys of ``Assignment.COMPACT_FIELDS``. Items are
    written in index order.
    """
    keys = Assignment.COMPACT_FIELDS if compact else Assignment.FIELDS
    echoed = {"learner_id": learner_ids or {}, "email_hash": hashes or {}}
    objects = [b""] * (sum(len(indices) for _, indices in parts) + len(errors))
    for placed, indices in parts:
        texts = _objects(segmenter, placed, indices, echoed, keys)
        for index, text in zip(indices, texts, strict=True):
            objects[index] = text
    for index, error in errors.items():
        objects[index] = orjson.dumps(error)
    return b'{"results":[' + b",".join(objects) + b"]}"


def _objects(
    segmenter: Segmenter,
    placed: Placement,
    indices: Sequence[int],
    echoed: Mapping[str, Mapping[int, str]],
    keys: Sequence[str],
) -> list[bytes]:
    """The JSON object of every placed learner, in order."""
    if len(placed.nearest) != len(indices):
        raise ValueError("Give one index per placed learner.")
    index: list[Piece] = [_numbers(np.asarray(indices, dtype=np.int64))]
    for name, values in echoed.items():
        if values:  # `,"name":"..."` for a learner that sent one, nothing for the others
            member = b',"' + name.encode() + b'":'
            index.append([_echo(member, values.get(i)) for i in indices])
    members = [("index", index), *((key, _VALUES[key](segmenter, placed)) for key in keys)]
    columns = [repeat(piece) if isinstance(piece, bytes) else piece for piece in _object(members)]
    # strict=False: a piece that is the same for every learner repeats without end.
    return [b"".join(row) for row in zip(*columns, strict=False)]


def _object(members: Iterable[tuple[str, list[Piece]]]) -> list[Piece]:
    """The pieces of ``{"key": value, ...}``, given each key and the pieces of its value."""
    pieces: list[Piece] = []
    for key, value in members:
        pieces += [(b"," if pieces else b"{") + orjson.dumps(key) + b":", *value]
    return [*pieces, b"}"] if pieces else [b"{}"]


# --------------------------------------------------------------- the value of each key, as pieces
def _segment_id(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    return [_segment_ids(segmenter)[placed.nearest]]


def _segment_name(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    ids = segmenter.model.segment_ids.tolist()
    return [_per_centre(orjson.dumps(segmenter.segment_name(i)) for i in ids)[placed.nearest]]


def _coarse_segment_id(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    return [_per_centre(b"%d" % i for i in segmenter.model.coarse.tolist())[placed.nearest]]


def _track(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    return [_per_centre(orjson.dumps(t) for t in placed.tracks)[placed.track]]


def _course_codes(placed: Placement) -> tuple[Any, tuple[str, ...]]:
    """Each learner's course as a code, and the course ids the codes index."""
    if placed.course is None:
        raise ValueError("Place learners with the model's cohorts (Segmenter.place).")
    return placed.course, placed.courses


def _course(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    codes, courses = _course_codes(placed)
    return [_per_centre(orjson.dumps(c) for c in courses)[codes]]


def _course_name(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    codes, _ = _course_codes(placed)
    return [_per_centre(orjson.dumps(name) for name in placed.course_names)[codes]]


def _distance(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    return [_numbers(placed.distance)]


def _runner_up(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    """The next-nearest segment's id and distance (``null`` when the model has one segment)."""
    if placed.runner_up is None or placed.runner_up_distance is None:
        return [b"null"]
    values: dict[str, list[Piece]] = {
        "segment_id": [_segment_ids(segmenter)[placed.runner_up]],
        "distance": [_numbers(placed.runner_up_distance)],
    }
    return _object((key, values[key]) for key in Assignment.RUNNER_UP_FIELDS)


def _margin(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    if placed.runner_up_distance is None:
        return [b"null"]
    return [_numbers(placed.runner_up_distance - placed.distance)]


def _relative_margin(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    if placed.relative_margin is None:
        return [b"null"]
    return [_numbers(placed.relative_margin)]


def _confidence(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    """``"high"`` or ``"low"`` (always high when the model has one segment)."""
    if placed.relative_margin is None:
        return [orjson.dumps(HIGH)]
    words = np.array([orjson.dumps(LOW), orjson.dumps(HIGH)], dtype=object)
    return [words[(segmenter.model.confidence(placed.relative_margin) == HIGH).astype(np.intp)]]


def _features(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    """``{"feature": value, ...}`` in the model's order (one column of ``placed.features`` each)."""
    names = segmenter.model.features
    return _object((name, [_numbers(placed.features[:, j])]) for j, name in enumerate(names))


def _warnings(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    return [[orjson.dumps(warnings) if warnings else b"[]" for warnings in placed.warnings]]


def _model_version(segmenter: Segmenter, placed: Placement) -> list[Piece]:
    return [orjson.dumps(segmenter.version)]


#: How the value of each key of ``Assignment.FIELDS`` is written.
_VALUES: dict[str, Callable[[Segmenter, Placement], list[Piece]]] = {
    "segment_id": _segment_id,
    "segment_name": _segment_name,
    "coarse_segment_id": _coarse_segment_id,
    "track": _track,
    "course": _course,
    "course_name": _course_name,
    "distance": _distance,
    "runner_up": _runner_up,
    "margin": _margin,
    "relative_margin": _relative_margin,
    "confidence": _confidence,
    "features": _features,
    "warnings": _warnings,
    "model_version": _model_version,
}
if _VALUES.keys() != set(Assignment.FIELDS) or not set(Assignment.COMPACT_FIELDS) <= _VALUES.keys():
    raise ImportError(
        f"render_batch writes {tuple(_VALUES)}, but a placement's JSON has {Assignment.FIELDS} "
        "(service.segmenter.Assignment)."
    )


# ------------------------------------------------------------------------------------- helpers
def _numbers(values: np.ndarray[Any, Any]) -> list[bytes]:
    """The JSON text of every number of a 1-D array, as orjson writes it."""
    text = orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY)
    return text[1:-1].split(b",") if len(values) else []


def _echo(member: bytes, value: str | None) -> bytes:
    """An echoed member of a learner's object (``,"learner_id":...``), or nothing."""
    return b"" if value is None else member + orjson.dumps(value)


def _per_centre(texts: Iterable[bytes]) -> np.ndarray[Any, Any]:
    """One text per centre, in centre order: indexed by the learners' centres, it is a piece."""
    return np.array(list(texts), dtype=object)


def _segment_ids(segmenter: Segmenter) -> np.ndarray[Any, Any]:
    """Each centre's segment id, as text."""
    return _per_centre(b"%d" % i for i in segmenter.model.segment_ids.tolist())
