"""Career paths and commonest what-if moves of each segment (training.insights.paths): the
figures profiles.json stores, recomputed here learner by learner from the training learners."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np
import pytest

from training.config import TrainingSettings
from training.insights.paths import (
    PAY_STEP,
    REPORT_YEARS,
    common_moves,
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


def test_a_raise_counts_only_within_the_pay_step(model: VerifiedModel) -> None:
    """With a pay step of 0 no raise counts; a huge step counts every raise the Explainer finds."""
    explainer = Explainer(model.kernel, model.cohorts, model.names())
    requests = [
        {
            "company_hash": None,
            "orgyear": 2016,
            "ctc": float(ctc),
            "job_position": "Backend Engineer",
            "ctc_updated_year": 2021,
        }
        for ctc in np.linspace(300_000, 3_000_000, 40)
    ]
    none = common_moves(explainer, requests, pay_step=0.0)
    assert all(m["input"] != "pay" for s in none.values() for m in s["moves"])
    raises = sum(
        any(
            e["input"] == "pay" and e["direction"] == "more" and e["segment_id"] is not None
            for e in explainer.explain(r)["what_if"]
        )
        for r in requests
    )
    wide = common_moves(explainer, requests, pay_step=1e9, top=100)
    counted = sum(m["learners"] for s in wide.values() for m in s["moves"] if m["input"] == "pay")
    assert raises > 0 and counted == raises


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
