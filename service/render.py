"""The ``/segment/batch`` response body, rendered column by column.

A batch of 1,000 learners is 1,000 JSON objects of some 20 values each. Building a dict per
learner for orjson costs more than placing the learners; here the numbers of each column are
written by one ``orjson.dumps`` of the numpy column and cut into their texts, the parts that
only depend on the segment (its id, name, coarse id) are written once per segment, and each
object is laid out as a row of byte pieces that one ``bytes.join`` puts together.

The result is byte for byte what orjson gives for ``{"results": [...]}`` of
``{"index": i, **assignment.to_dict()}`` (``Segmenter.assignments``), error items in their
places: a test holds the two together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from service.segmenter import Placement, Segmenter

__all__ = ["render_batch"]


def render_batch(
    segmenter: Segmenter,
    parts: Sequence[tuple[Placement, Sequence[int]]],
    errors: Mapping[int, dict[str, Any]],
) -> bytes:
    """``{"results": [...]}``: every placed learner at its index, ``errors`` at theirs.

    ``parts`` holds learners placed together and their item indices (``indices[i]`` is the
    index of the i-th learner of that placement); ``errors`` maps the index of every other item
    to its JSON object. Items are written in index order.
    """
    pieces_of = [(_placed_pieces(segmenter, placed, indices), indices) for placed, indices in parts]
    if len(pieces_of) == 1 and not errors:
        pieces = pieces_of[0][0]
    else:
        n = sum(len(indices) for _, indices in pieces_of) + len(errors)
        width = pieces_of[0][0].shape[1] if pieces_of else 1
        pieces = np.full((n, width), b"", dtype=object)
        for rows, indices in pieces_of:
            pieces[np.asarray(indices, dtype=np.intp)] = rows
        for index, error in errors.items():
            pieces[index, 0] = b"," + orjson.dumps(error)
    flat: list[bytes] = pieces.ravel().tolist()
    if flat:
        flat[0] = flat[0][1:]  # the first object has no comma before it
    return b'{"results":[' + b"".join(flat) + b"]}"


def _placed_pieces(
    segmenter: Segmenter, placed: Placement, indices: Sequence[int]
) -> np.ndarray[Any, Any]:
    """(n, width) byte pieces; row i joined is ``,`` then placed learner i's JSON object."""
    if len(placed.nearest) != len(indices):
        raise ValueError("Give one index per placed learner.")
    model = segmenter.model
    n = len(indices)
    keys = model.features
    width = 8 + 2 * len(keys) + 2
    out = np.empty((n, width), dtype=object)
    out[:, 0] = b',{"index":'
    out[:, 1] = _texts(np.asarray(indices, dtype=np.int64))
    out[:, 2] = _by_centre(
        segmenter,
        lambda segment, name, macro: (
            b',"segment_id":%d,"segment_name":%s,'
            b'"coarse_segment_id":%d,"distance":' % (segment, orjson.dumps(name), macro)
        ),
    )[placed.nearest]
    out[:, 3] = _texts(placed.distance)
    if placed.runner_up is None or placed.runner_up_distance is None:
        out[:, 4] = b',"runner_up":null,"margin":null'
        out[:, 5:8] = b""
    else:
        out[:, 4] = _by_centre(
            segmenter,
            lambda segment, name, macro: b',"runner_up":{"segment_id":%d,"distance":' % segment,
        )[placed.runner_up]
        out[:, 5] = _texts(placed.runner_up_distance)
        out[:, 6] = b'},"margin":'
        out[:, 7] = _texts(placed.runner_up_distance - placed.distance)
    for j, key in enumerate(keys):
        out[:, 8 + 2 * j] = (b',"features":{' if j == 0 else b",") + orjson.dumps(key) + b":"
        out[:, 9 + 2 * j] = _texts(placed.features[:, j])
    empty = b'},"warnings":[]'
    out[:, width - 2] = [
        b'},"warnings":' + orjson.dumps(warnings) if warnings else empty
        for warnings in placed.warnings
    ]
    out[:, width - 1] = b',"model_version":' + orjson.dumps(segmenter.version) + b"}"
    return out


def _texts(values: np.ndarray[Any, Any]) -> list[bytes]:
    """The JSON text of every number of a 1-D array, as orjson writes it."""
    text = orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY)
    return text[1:-1].split(b",") if len(values) else []


def _by_centre(
    segmenter: Segmenter, piece: Callable[[int, str, int], bytes]
) -> np.ndarray[Any, Any]:
    """``piece(segment id, name, coarse id)`` for every centre, as an object array."""
    model = segmenter.model
    out = np.empty(len(model.segment_ids), dtype=object)
    for centre, (segment, macro) in enumerate(
        zip(model.segment_ids.tolist(), model.coarse.tolist(), strict=True)
    ):
        out[centre] = piece(segment, segmenter.segment_name(segment), macro)
    return out
