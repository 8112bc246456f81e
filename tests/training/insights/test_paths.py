"""Career paths and commonest what-if moves of each segment (training.insights.paths): the
figures profiles.json stores, recomputed here learner by learner from the training learners."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np
import pytest

from training.batch.explain import WhatIfs
from training.config import TrainingSettings
from training.insights.paths import (
    PAY_STEP,
    REPORT_YEARS,
    common_moves,
    learner_columns,
    learner_requests,
    placed_segments,
    segment_paths,
)
from training.prep.features import LearnerData
from training.run import TrainingResult
from training.runtime.explain import Explainer
from training.runtime.loader import VerifiedModel, load_model


@pytest.fixture(scope="module")
def model(trained_small: TrainingResult) -> VerifiedModel:
    return load_model(trained_small.folder)


@pytest.fixture(scope="module")
def paths(model: VerifiedModel) -> dict[str, Any]:
    found: dict[str, Any] = model.profiles["paths"]
    return found


def test_stored_paths_are_each_learners_path_counted(
    model: VerifiedModel, paths: dict[str, Any], small_data: LearnerData
) -> None:
    """Every training learner moved along the years one at a time (the one-learner kernel path,
    not the vectorised one), counted by destination: the stored counts, to the learner."""
    kernel = model.kernel
    x = small_data.features[list(kernel.features)].to_numpy(np.float64)
    j = kernel.features.index("years_experience")
    ids = kernel.segment_ids
    expected: dict[tuple[int, int], Counter[int]] = {}
    for row in x.tolist():
        here = int(ids[kernel.nearest_one(row)[0]])
        for n in REPORT_YEARS:
            moved = list(row)
            moved[j] += n
            expected.setdefault((here, n), Counter())[int(ids[kernel.nearest_one(moved)[0]])] += 1
    assert paths["years"] == list(REPORT_YEARS)
    assert paths["learners"] == len(x)
    assert {s["id"] for s in paths["segments"]} == {int(s) for s in ids}
    for segment in paths["segments"]:
        size = sum(expected[(segment["id"], 1)].values())
        for step in segment["path"]:
            got = {t["segment_id"]: t["learners"] for t in step["to"]}
            assert got == dict(expected[(segment["id"], step["years"])])
            assert sum(t["share"] for t in step["to"]) == pytest.approx(1.0, abs=1e-3)
            for t in step["to"]:
                assert t["share"] == pytest.approx(t["learners"] / size, abs=1e-4)
                assert t["segment_name"] == model.names()[t["segment_id"]]
    # experience only grows: some learners change segment within three years
    assert any(
        step["to"][0]["segment_id"] != segment["id"] or len(step["to"]) > 1
        for segment in paths["segments"]
        for step in segment["path"]
    )


def test_stored_moves_are_the_explainers_answers_counted(
    model: VerifiedModel, paths: dict[str, Any], small_data: LearnerData
) -> None:
    """The seeded sample of training learners the run drew, each explained on its own: the
    share of each segment whose smallest raise (<= PAY_STEP) or better-paying company leads to
    the top move's segment is the stored share."""
    size = TrainingSettings().paths_sample
    learners = small_data.learners
    rng = np.random.default_rng(TrainingSettings().seed)
    rows = np.sort(rng.choice(len(learners), size=min(len(learners), size), replace=False))
    requests = learner_requests(learners.iloc[rows])
    explainer = Explainer(model.kernel, model.cohorts, model.names())
    placed = placed_segments(model.kernel, requests)
    assert paths["sampled"] == len(requests) == size
    assert paths["pay_step"] == PAY_STEP
    tops = 0
    for segment in paths["segments"]:
        members = [r for r, s in zip(requests, placed, strict=True) if s == segment["id"]]
        assert segment["sampled"] == len(members)
        top = segment["top_move"]
        if top is None:
            continue
        tops += 1
        hits = 0
        for request in members:
            for entry in explainer.explain(request)["what_if"]:
                if entry["segment_id"] != top["segment_id"]:
                    continue
                if top["input"] == "pay" and entry["input"] == "pay":
                    hits += entry["direction"] == "more" and entry["relative"] <= PAY_STEP
                if top["input"] == "company_tier" and entry["input"] == "company_tier":
                    hits += f"tier {entry['tier']}" == top["direction"]
        assert top["learners"] == hits
        assert top["share"] == pytest.approx(hits / len(members), abs=1e-4)
        assert top == segment["moves"][0]
        assert [m["learners"] for m in segment["moves"]] == sorted(
            (m["learners"] for m in segment["moves"]), reverse=True
        )
    assert tops >= 1


def _scalar_moves(explainer: Explainer, request: dict[str, Any], pay_step: float) -> set[Any]:
    """The moves within reach of one learner, read off the one-learner Explainer's answer."""
    keys = set()
    for entry in explainer.explain(request)["what_if"]:
        if entry.get("segment_id") is None:
            continue
        pay = entry["input"] == "pay" and entry["direction"] == "more"
        if pay and entry["relative"] <= pay_step:
            keys.add(("pay", "more", entry["segment_id"]))
        if entry["input"] == "company_tier" and entry["direction"] == "better-paying":
            keys.add(("company_tier", f"tier {entry['tier']}", entry["segment_id"]))
    return keys


def test_batch_moves_are_each_learners_explainer_moves(
    model: VerifiedModel, small_data: LearnerData
) -> None:
    """The moves the run counts, computed for the whole sample at once, are each learner's
    moves from the one-learner Explainer (the service's answer), learner for learner."""
    learners = small_data.learners.iloc[:: max(1, len(small_data.learners) // 400)]
    what_ifs = WhatIfs.from_model(model)
    placed, reachable = what_ifs.reachable_moves(learner_columns(learners), PAY_STEP)
    requests = learner_requests(learners)
    assert placed == placed_segments(model.kernel, requests)
    expected = [_scalar_moves(what_ifs.explainer, r, PAY_STEP) for r in requests]
    assert reachable == expected
    assert sum(bool(keys) for keys in expected) > len(requests) // 10  # moves are found


def test_a_raise_counts_only_within_the_pay_step(model: VerifiedModel) -> None:
    """With a pay step of 0 no raise counts; a huge step counts every raise the Explainer finds."""
    what_ifs = WhatIfs.from_model(model)
    n = 40
    raw = {
        "company_hash": np.full(n, None, object),
        "orgyear": np.full(n, 2016.0),
        "ctc": np.linspace(300_000, 3_000_000, n),
        "job_position": np.full(n, "Backend Engineer", object),
        "ctc_updated_year": np.full(n, 2021.0),
    }
    placed, none = what_ifs.reachable_moves(raw, 0.0)
    assert not any(key[0] == "pay" for keys in none for key in keys)
    requests = [{name: raw[name][i] for name in raw} for i in range(n)]
    raises = sum(
        any(
            e["input"] == "pay" and e["direction"] == "more" and e["segment_id"] is not None
            for e in what_ifs.explainer.explain(r)["what_if"]
        )
        for r in requests
    )
    _, wide = what_ifs.reachable_moves(raw, 1e9)
    counted = common_moves(placed, wide, top=100)
    pay = sum(m["learners"] for s in counted.values() for m in s["moves"] if m["input"] == "pay")
    assert raises > 0 and pay == raises


def test_no_path_without_experience_among_the_inputs(model: VerifiedModel) -> None:
    k = model.kernel
    keep = [j for j, name in enumerate(k.features) if name != "years_experience"]
    kernel = dataclasses.replace(
        k,
        features=tuple(k.features[j] for j in keep),
        lower=k.lower[keep],
        upper=k.upper[keep],
        mean=k.mean[keep],
        scale=k.scale[keep],
        centers=k.centers[:, keep],
    )
    assert segment_paths(kernel, np.zeros((3, len(keep)))) == {}
