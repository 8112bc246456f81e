"""Why, what-if and path (training.runtime.explain) on crafted models where the answer is known in
closed form, and on a trained model where every answer is replayed through placement."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from training.run import TrainingResult
from training.runtime.explain import (
    Explainer,
    first_crossing,
    first_crossings,
    path_centres,
    pay_words,
)
from training.runtime.kernel import Kernel
from training.runtime.loader import VerifiedModel, load_model

LEARNER: dict[str, Any] = {
    "company_hash": None,
    "orgyear": 2016,
    "ctc": 1_000_000,
    "job_position": "Backend Engineer",
    "ctc_updated_year": 2021,
}
PAY = 1  # the column of pay_vs_experience in the default inputs


@pytest.fixture(scope="module")
def model(trained_small: TrainingResult) -> VerifiedModel:
    verified = load_model(trained_small.folder)
    assert verified.kernel.features == ("years_experience", "pay_vs_experience", "company_tier")
    return verified


def _crafted(model: VerifiedModel, centres: np.ndarray) -> Explainer:
    """The trained model with other centres (its rules, tables, scaling and clip kept)."""
    k = len(centres)
    kernel = dataclasses.replace(
        model.kernel,
        centers=np.asarray(centres, np.float64),
        segment_ids=np.arange(k, dtype=np.intp),
        coarse=np.zeros(k, dtype=np.intp),
    )
    cohorts = dataclasses.replace(
        model.cohorts,
        segment_ids=list(range(k)),
        course=[list(model.cohorts.course[0]) for _ in range(k)],
        by_stage=None if model.cohorts.by_stage is None else [model.cohorts.by_stage[0]] * k,
    )
    return Explainer(kernel, cohorts, {i: f"segment {i}" for i in range(k)})


def _scaled(kernel: Kernel, learner: dict[str, Any]) -> np.ndarray:
    explainer = Explainer(kernel, _any_cohorts(kernel), {})
    seen = explainer._see(learner)
    return np.asarray(kernel.scaled(np.asarray([seen.x]))[0])


def _any_cohorts(kernel: Kernel) -> Any:
    from training.runtime.courses import DEFAULT_COURSES, CohortCourses

    return CohortCourses.constant(
        kernel.segment_ids.tolist(), kernel.rules.tracks.ids, DEFAULT_COURSES[0]
    )


def _entry(out: dict[str, Any], name: str, direction: str | None = None) -> dict[str, Any]:
    found = [
        w
        for w in out["what_if"]
        if w["input"] == name and (direction is None or w["direction"] == direction)
    ]
    assert len(found) == 1, out["what_if"]
    entry: dict[str, Any] = found[0]
    return entry


def _segment(explainer: Explainer, learner: dict[str, Any]) -> int:
    return int(explainer.kernel.segment_ids[explainer._centre_of(learner)])


def test_two_centres_apart_on_pay_cross_at_the_midpoint(model: VerifiedModel) -> None:
    z = _scaled(model.kernel, LEARNER)
    step = np.zeros(3)
    step[PAY] = 1.0
    a, b = 0.2, 0.6  # the learner is 0.2 from centre 0 and 0.6 from centre 1, along pay only
    explainer = _crafted(model, np.array([z - a * step, z + b * step]))
    out = explainer.explain(LEARNER)
    raise_ = _entry(out, "pay", "more")
    # the boundary is at z + (b - a) / 2 along pay: a log-CTC move of (b - a) / 2 x scale
    expected = LEARNER["ctc"] * math.exp((b - a) / 2 * explainer.kernel.scale[PAY])
    assert raise_["segment_id"] == 1
    assert raise_["request_change"]["ctc"] == pytest.approx(math.ceil(expected), abs=3)
    assert raise_["change"] == pay_words(LEARNER["ctc"], raise_["request_change"]["ctc"])
    assert _segment(explainer, {**LEARNER, **raise_["request_change"]}) == 1
    assert _segment(explainer, {**LEARNER, "ctc": math.floor(expected) - 1}) == 0
    cut = _entry(out, "pay", "less")  # centre 1 lies only above: no cut moves the learner
    assert cut["segment_id"] is None and cut["request_change"] is None
    assert cut["reason"].startswith("no cut down to")
    # why: only pay tells the two centres apart, so it holds the whole gap
    why = {w["input"]: w for w in out["why"]}
    assert why["pay_vs_experience"]["share_of_gap"] == pytest.approx(1.0)
    assert why["years_experience"]["share_of_gap"] == pytest.approx(0.0, abs=1e-9)


def test_of_three_centres_the_first_boundary_crossed_is_reported(model: VerifiedModel) -> None:
    z = _scaled(model.kernel, LEARNER)
    pay, years = np.zeros(3), np.zeros(3)
    pay[PAY], years[0] = 1.0, 1.0
    # centre 1 far up the pay axis; centre 2 up too, nearer, but off in years: its boundary
    # along pay comes first (closed form: where |z - c0|^2 = |z - c2|^2)
    c0, c1, c2 = z - 0.1 * pay, z + 2.0 * pay, z + 0.8 * pay + 0.3 * years
    explainer = _crafted(model, np.array([c0, c1, c2]))
    out = explainer.explain(LEARNER)
    raise_ = _entry(out, "pay", "more")

    def crossing(c: np.ndarray) -> float:  # t with |z + t e - c0|^2 = |z + t e - c|^2
        d = c - c0
        return float((c @ c - c0 @ c0 - 2 * z @ d) / (2 * d[PAY]))

    first = min(crossing(c1), crossing(c2))
    assert crossing(c2) < crossing(c1) and raise_["segment_id"] == 2
    expected = LEARNER["ctc"] * math.exp(first * explainer.kernel.scale[PAY])
    assert raise_["request_change"]["ctc"] == pytest.approx(math.ceil(expected), abs=3)


def test_a_learner_on_a_boundary_moves_with_the_smallest_change(model: VerifiedModel) -> None:
    z = _scaled(model.kernel, LEARNER)
    step = np.zeros(3)
    step[PAY] = 1.0
    explainer = _crafted(model, np.array([z - 0.5 * step, z + 0.5 * step]))
    assert _segment(explainer, LEARNER) == 0  # a tie goes to the lower centre, as in placement
    raise_ = _entry(explainer.explain(LEARNER), "pay", "more")
    assert raise_["segment_id"] == 1
    assert raise_["request_change"]["ctc"] - LEARNER["ctc"] <= 3  # a rupee or so


def test_nothing_in_range_moves_a_learner_at_the_top_of_every_input(model: VerifiedModel) -> None:
    kernel = model.kernel
    top = {**LEARNER, "ctc": kernel.rules.ctc_high, "orgyear": kernel.rules.orgyear_min}
    z = _scaled(kernel, top)
    # a second centre beyond the clip range of every input can never be nearer
    far = (kernel.upper - kernel.mean) / kernel.scale + 50.0
    explainer = _crafted(model, np.array([z, far]))
    out = explainer.explain(top)
    for entry in out["what_if"]:
        assert entry["segment_id"] is None and entry["request_change"] is None
        assert entry["reason"]
    assert [p["segment_id"] for p in out["path"]] == [0, 0, 0, 0]


def test_first_crossing_follows_the_clip() -> None:
    """A moving input that reaches its clip bound stops moving: beyond it nothing changes."""
    kernel = _bare_kernel(centres=[[0.0, 0.0], [3.0, 0.0]], lower=[-1.0, -1.0], upper=[1.0, 1.0])
    # along feature 0 the boundary is at 1.5, past the clip at 1.0: nothing within reach
    assert first_crossing(kernel, np.array([0.0, 0.0]), np.array([1.0, 0.0]), 0, 5.0) is None
    wide = _bare_kernel(centres=[[0.0, 0.0], [3.0, 0.0]], lower=[-9.0, -9.0], upper=[9.0, 9.0])
    t, centre = first_crossing(wide, np.array([0.0, 0.0]), np.array([1.0, 0.0]), 0, 5.0) or (0, 0)
    assert centre == 1 and t == pytest.approx(1.5)
    # moving down crosses nothing; a span too short stops before the boundary
    assert first_crossing(wide, np.array([0.0, 0.0]), np.array([1.0, 0.0]), 0, -5.0) is None
    assert first_crossing(wide, np.array([0.0, 0.0]), np.array([1.0, 0.0]), 0, 1.4) is None


def _bare_kernel(centres: list[list[float]], lower: list[float], upper: list[float]) -> Any:
    """A stand-in holding only what :func:`first_crossing` reads (no rules or tables)."""

    @dataclasses.dataclass
    class Bare:
        centers: np.ndarray
        lower: np.ndarray
        upper: np.ndarray
        mean: np.ndarray
        scale: np.ndarray

    return Bare(
        np.asarray(centres, float),
        np.asarray(lower, float),
        np.asarray(upper, float),
        np.zeros(len(lower)),
        np.ones(len(lower)),
    )


def test_every_change_replays_to_its_segment_and_is_minimal(model: VerifiedModel) -> None:
    """On learners of a generator seed no other test uses: each request_change, sent as the
    /segment body would be, places the learner in the reported segment; the same pay change 1 %
    smaller, or one year fewer, does not."""
    from training.data.synth import generate_learners

    explainer = Explainer(model.kernel, model.cohorts, model.names())
    table = generate_learners(rows=1_000, seed=23)
    fields = ["company_hash", "orgyear", "ctc", "job_position", "ctc_updated_year"]
    learners: list[dict[str, Any]] = [
        {str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table[fields].to_dict("records")
    ]
    learners = [x for x in learners if x["ctc"] and x["ctc"] > 0]
    replayed = 0
    for learner in learners:
        out = explainer.explain(learner)
        here = _segment(explainer, learner)
        for entry in out["what_if"]:
            if entry["request_change"] is None:
                continue
            replayed += 1
            assert (
                _segment(explainer, {**learner, **entry["request_change"]}) == entry["segment_id"]
            )
            assert entry["segment_id"] != here
            if entry["input"] == "pay" and abs(entry["amount"]) > 400:
                before = explainer._see(learner).ctc
                smaller = before + 0.99 * (entry["request_change"]["ctc"] - before)
                assert _segment(explainer, {**learner, "ctc": smaller}) == here
            if entry["input"] == "experience" and entry["years"] > 1:
                fewer = {**learner, "orgyear": entry["request_change"]["orgyear"] + 1}
                assert _segment(explainer, fewer) == here
    assert replayed > len(learners)  # most learners have at least one move


def test_first_crossing_of_one_learner_equals_first_crossings(model: VerifiedModel) -> None:
    """The one-learner form (Python floats) and the many-learner form (numpy) give the same step
    and centre, on random moves of random learners across the clip bounds, both ways."""
    kernel = model.kernel
    rng = np.random.default_rng(24)
    n = 400
    low, high = kernel.lower - 1.0, kernel.upper + 1.0
    x = low + rng.random((n, len(low))) * (high - low)
    slope = rng.choice([0.0, 1.0, -0.5], size=(n, len(low)))
    slope[:, 0] = np.where(slope.any(axis=1), slope[:, 0], 1.0)  # every learner moves
    span = rng.choice([-1.0, 1.0], n) * rng.random(n) * 3.0
    centre = kernel.assign(x)
    t, index = first_crossings(kernel, x, slope, centre, span)
    found = 0
    for i in range(n):
        one = first_crossing(kernel, x[i], slope[i], int(centre[i]), float(span[i]))
        if index[i] < 0:
            assert one is None, i
            continue
        found += 1
        assert one is not None and one[1] == index[i], i
        assert one[0] == pytest.approx(t[i], rel=1e-9, abs=1e-12), i
    assert 0 < found < n


def test_the_path_of_one_learner_follows_path_centres(model: VerifiedModel) -> None:
    """One learner's path (Python floats) and the segments' paths (numpy) give the same
    centres, for learners of every pay and experience."""
    explainer = Explainer(model.kernel, model.cohorts, model.names())
    seen = [
        explainer._see({**LEARNER, "ctc": ctc, "orgyear": year})
        for ctc in (150_000, 600_000, 1_000_000, 2_500_000, 9_000_000)
        for year in (2000, 2010, 2016, 2021)
    ]
    centres = path_centres(model.kernel, np.asarray([s.x for s in seen], np.float64))
    ids = model.kernel.segment_ids[centres].tolist()
    assert [[p["segment_id"] for p in explainer._path(s)] for s in seen] == ids
    assert len({tuple(row) for row in ids}) > 1


def test_the_tier_move_of_a_learner_without_a_known_company_names_no_tier_of_theirs(
    model: VerifiedModel,
) -> None:
    """A learner without a known company is counted at the population's pay level: the move to
    a best-paying company says so instead of "instead of tier 2", which reads as a fact about
    their employer; a learner with a known company keeps the tier they are at."""
    tier = 2  # the column of company_tier in the default inputs
    z = _scaled(model.kernel, LEARNER)
    best = (1.0 - model.kernel.mean[tier]) / model.kernel.scale[tier]
    moved = z.copy()
    moved[tier] = best
    explainer = _crafted(model, np.array([z, moved]))
    out = _entry(explainer.explain(LEARNER), "company_tier")
    assert out["segment_id"] == 1 and out["tier"] == 1
    assert out["change"] == (
        "at a best-paying (tier-1) company (your company is unknown to the model, counted as "
        "mid-paying)"
    )
    company = explainer.tier_companies[3]  # a known company of another tier than the target
    known = {**LEARNER, "company_hash": company}
    z = _scaled(model.kernel, known)
    moved = z.copy()
    moved[tier] = best
    explainer = _crafted(model, np.array([z, moved]))
    entry = _entry(explainer.explain(known), "company_tier")
    assert entry["change"] == "at a tier-1 (better-paying) company instead of tier 3"
