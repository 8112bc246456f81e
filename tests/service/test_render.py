"""The batch response renderer (service.render): byte for byte what orjson writes for the
assignments, with invalid items and chunks interleaved, and for a model of one segment."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from service.render import render_batch
from service.schemas import Learner, learner_columns
from service.segmenter import Segmenter
from tests.helpers import JUNK, LEARNERS
from training.runtime.schema import RAW_FIELDS


def _items(learners: list[Any]) -> list[Learner | Any]:
    out: list[Learner | Any] = []
    for item in learners:
        try:
            out.append(Learner.model_validate(item))
        except ValueError:
            out.append(item)
    return out


@pytest.mark.parametrize("chunk", [1, 3, 100])
@pytest.mark.parametrize("bad_at", [(), (0,), (1, 3), (0, 1, 2, 3, 4, 5, 6)])
def test_render_batch_is_orjson_of_the_results_byte_for_byte(
    segmenter: Segmenter, bad_at: tuple[int, ...], chunk: int
) -> None:
    """The column renderer writes what orjson writes for the result dicts, byte for byte:
    both follow Assignment.FIELDS, so this holds every value's text (numbers as orjson writes
    them, names, warnings), with invalid items and chunks interleaved."""
    learners: list[Any] = [*LEARNERS, JUNK, {"ctc": 7.5e5, "orgyear": 2016.5}]
    items = _items([{"ctc": -1} if i in bad_at else x for i, x in enumerate(learners)])
    valid = [i for i, item in enumerate(items) if isinstance(item, Learner)]
    errors = {i: {"index": i, "error": "ctc: bad"} for i in range(len(items)) if i not in valid}
    parts = [
        (segmenter.place(learner_columns([items[i] for i in indices])), indices)
        for indices in (valid[start : start + chunk] for start in range(0, len(valid), chunk))
    ]
    body = render_batch(segmenter, parts, errors)
    results = [
        {"index": index, **assignment.to_dict()}
        for placed, indices in parts
        for index, assignment in zip(indices, segmenter.assignments(placed), strict=True)
    ]
    merged = iter(results)
    expected = [errors[i] if i in errors else next(merged) for i in range(len(items))]
    assert body == orjson.dumps({"results": expected})


def test_a_one_segment_model_has_no_runner_up(segmenter: Segmenter) -> None:
    model = dataclasses.replace(
        segmenter.model,
        centers=segmenter.model.centers[:1],
        segment_ids=segmenter.model.segment_ids[:1],
        coarse=segmenter.model.coarse[:1],
    )
    one = dataclasses.replace(segmenter, model=model)
    single = one.assign(JUNK).to_dict()
    assert single["runner_up"] is None and single["margin"] is None
    placed = one.place({k: [x.get(k) for x in (JUNK, *LEARNERS)] for k in RAW_FIELDS})
    body = orjson.loads(render_batch(one, [(placed, list(range(6)))], {}))
    assert body == {
        "results": [{"index": i, **a.to_dict()} for i, a in enumerate(one.assignments(placed))]
    }
    assert {r["runner_up"] for r in body["results"]} == {None}
    assert body["results"][0] == {"index": 0, **single}
