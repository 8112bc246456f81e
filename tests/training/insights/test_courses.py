"""A course for every cohort (training.insights.courses): the career stage, the choice rules on
crafted catalogues and cohorts (each fires where it should and stays silent elsewhere), the
sentences that hold each course to its figures, and the trained model's table recomputed from
the learners it serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from training.batch.assign import assign_table
from training.batch.reading import raw_arrays
from training.data.synth import write_learners
from training.insights.courses import (
    SMALL_COHORT,
    CohortFigures,
    StageBounds,
    career_stage,
    choose_cohort_courses,
    choose_course,
    cohort_figures,
    course_learners,
    with_cohorts,
)
from training.insights.wording import LPA
from training.run import TrainingResult
from training.runtime.cleaning import apply_rules
from training.runtime.courses import CAREER, COURSE, DEFAULT_COURSES, Course
from training.runtime.loader import load_model
from training.runtime.tracks import OTHER_TRACK, UNKNOWN_TRACK, Track, Tracks

BOUNDS = StageBounds(early=3.0, senior=9.0)


def test_the_career_stage_is_the_segment_s_median_against_all_learners_quartiles() -> None:
    assert career_stage(2.0, BOUNDS) == career_stage(3.0, BOUNDS) == "early"
    assert career_stage(3.5, BOUNDS) == career_stage(8.9, BOUNDS) == "mid"
    assert career_stage(9.0, BOUNDS) == career_stage(20.0, BOUNDS) == "senior"
    assert career_stage(4.0, StageBounds(early=4.0, senior=4.0)) == "early"  # early wins a tie


@pytest.mark.parametrize(
    ("track", "stage", "course", "how"),
    [
        ("data", "mid", "data-science-ml", "fits"),
        ("data", "early", "data-science-ml", "fits"),
        # A stage-limited entry is more specific: it comes first where it fits...
        ("data", "senior", "engineering-leadership", "fits"),
        ("backend", "senior", "engineering-leadership", "fits"),
        # ... and stays silent for a track it does not list.
        ("support", "senior", "product-leadership", "fits"),
        # A switch into software fits early career only: a mid-career or senior product or
        # support learner gets product leadership, not a beginner course.
        ("support", "early", "switch-into-software", "fits"),
        ("product", "early", "switch-into-software", "fits"),
        ("product", "mid", "product-leadership", "fits"),
        ("support", "mid", "product-leadership", "fits"),
        ("product", "senior", "product-leadership", "fits"),
        ("other", "senior", "software-development", "fits"),
        ("qa", "mid", "test-automation", "fits"),
        ("frontend", "mid", "fullstack-frontend", "fits"),
        # Leadership is taught at the senior stage; before it, a lead gets system design.
        ("leadership", "mid", "software-development", "fits"),
        ("leadership", "early", "software-development", "fits"),
        ("leadership", "senior", "engineering-leadership", "fits"),
        # A track no course lists gets the course for other titles.
        ("astronaut", "mid", "software-development", "unlisted"),
    ],
)
def test_the_default_catalogue_s_choice(track: str, stage: str, course: str, how: str) -> None:
    chosen, found = choose_course(track, stage, DEFAULT_COURSES)
    assert (chosen.id, found) == (course, how)
    assert chosen.kind == COURSE


def test_catalogue_order_breaks_ties_and_career_services_are_never_a_course() -> None:
    service = Course("mock", "Mock interviews", CAREER, "job switch", ("*",))
    first = Course("a", "A", COURSE, "x", ("data",))
    second = Course("b", "B", COURSE, "y", ("data",))
    assert choose_course("data", "mid", [service, first, second])[0] is first
    assert choose_course("data", "mid", [service, second, first])[0] is second
    # No course lists the track nor "other": the catalogue's first course.
    assert choose_course("qa", "mid", [service, second, first]) == (second, "first")
    with pytest.raises(ValueError, match=r"^The catalogue lists no course\.$"):
        choose_course("data", "mid", [service])


def _tracks() -> Tracks:
    return Tracks((Track("data", "Data & ML", r"\bdata\b"), Track("qa", "QA & test", r"\bqa\b")))


CATALOGUE = (
    Course("ds", "Data science", COURSE, "data", ("data",)),
    Course("sdet", "Test automation", COURSE, "quality", ("qa",)),
    Course("lead", "Leadership", COURSE, "leadership", ("data", "qa"), ("senior",)),
    Course("sd", "Software development", COURSE, "software", (OTHER_TRACK,)),
)


def test_cohorts_get_their_courses_and_the_figures_why() -> None:
    """Two segments, one mid and one senior: each cohort's course, share, median pay, small
    flag and sentence; learners without a title follow the segment's titled majority."""
    figures = {
        (0, "data"): CohortFigures(400, 1_250_000.0, 12),
        (0, "qa"): CohortFigures(20, 800_000.0, 3),
        (0, OTHER_TRACK): CohortFigures(50, 900_000.0, 0),
        (0, UNKNOWN_TRACK): CohortFigures(130, 1_000_000.0, 7),
        (1, "qa"): CohortFigures(300, 2_000_000.0, 30),
        (1, UNKNOWN_TRACK): CohortFigures(100, 1_900_000.0, 1),
    }
    choice = choose_cohort_courses(figures, {0: 5.0, 1: 12.0}, BOUNDS, _tracks(), CATALOGUE)
    assert choice.stages == {0: "mid", 1: "senior"}
    mid = {row["track"]: row for row in choice.table[0]}
    assert [row["track"] for row in choice.table[0]] == ["data", UNKNOWN_TRACK, OTHER_TRACK, "qa"]
    assert mid["data"] == {
        "track": "data",
        "learners": 400,
        "share": round(400 / 600, 4),
        "median_ctc_lpa": 12.5,
        "course": "ds",
        "course_name": "Data science",
        "by_stage": {"early": "ds", "mid": "ds", "senior": "lead"},
        "why": "400 learners on Data & ML, segment median 5.0 years (mid: 3-9 years): "
        "Data science, the catalogue's course for this track at the mid career stage. A "
        "learner's own career stage picks the course (early: Data science; mid: Data science; "
        "senior: Leadership).",
        "low_confidence": 12,
        "small": False,
    }
    assert mid["qa"]["small"] and mid["qa"]["learners"] < SMALL_COHORT
    assert mid[UNKNOWN_TRACK]["course"] == "ds"  # 400 of the 470 titled learners
    assert "(400 of 470)" in mid[UNKNOWN_TRACK]["why"]
    assert "never guessed" in mid[UNKNOWN_TRACK]["why"]
    senior = {row["track"]: row for row in choice.table[1]}
    assert senior["qa"]["course"] == senior["data"]["course"] == "lead"
    assert "(senior: at least 9 years)" in senior["qa"]["why"]
    assert senior["data"]["learners"] == 0 and senior["data"]["median_ctc_lpa"] is None
    assert senior["data"]["why"].startswith("No training learner on Data & ML")
    assert senior[UNKNOWN_TRACK]["course"] == "lead"
    assert senior[OTHER_TRACK]["course"] == "sd"  # the leadership course does not list other
    frozen = choice.courses
    for segment, rows in choice.table.items():
        for row in rows:
            assert frozen.course_of(segment, row["track"]) == row["course"]
            assert frozen.names[row["course"]] == row["course_name"]
            for stage, years in (("early", 1.0), ("mid", 5.0), ("senior", 12.0)):
                assert frozen.course_of(segment, row["track"], years) == row["by_stage"][stage]
    # The learner's own stage, not the segment's: a 12-year data scientist of the mid segment
    # gets the leadership course, a 1-year QA engineer of the senior segment the SDET course.
    assert frozen.course_of(0, "data", 12.0) == "lead"
    assert frozen.course_of(1, "qa", 1.0) == "sdet"
    assert frozen.course_of(1, "qa", None) == "lead"  # without years: the segment's stage
    assert senior[UNKNOWN_TRACK]["by_stage"] == {"early": "sdet", "mid": "sdet", "senior": "lead"}


def test_a_segment_without_titled_learners_sends_the_untitled_to_other_s_course() -> None:
    figures = {(0, UNKNOWN_TRACK): CohortFigures(80, 500_000.0, 0)}
    choice = choose_cohort_courses(figures, {0: 1.0}, BOUNDS, _tracks(), CATALOGUE)
    row = next(r for r in choice.table[0] if r["track"] == UNKNOWN_TRACK)
    assert row["course"] == "sd"
    assert "no learner of the segment has a known track" in row["why"]


def test_a_track_without_a_course_says_so() -> None:
    catalogue = (CATALOGUE[0], CATALOGUE[3])  # nothing for QA
    figures = {(0, "qa"): CohortFigures(40, 700_000.0, 0)}
    choice = choose_cohort_courses(figures, {0: 5.0}, BOUNDS, _tracks(), catalogue)
    row = next(r for r in choice.table[0] if r["track"] == "qa")
    assert row["course"] == "sd"
    assert row["why"].endswith(
        ": no course lists this track, so the one for other titles, Software development."
    )


def test_cohort_figures_count_learners_medians_and_low_confidence() -> None:
    segments = np.array([0, 0, 0, 1, 1, 0])
    tracks = np.array(["data", "data", "qa", "data", "data", "data"], dtype=object)
    ctc = np.array([1.0, 3.0, 5.0, 7.0, 8.0, 10.0]) * 1e5
    low = np.array([True, False, False, True, True, False])
    got = cohort_figures(segments, tracks, ctc, low)
    assert got == {
        (0, "data"): CohortFigures(3, 3e5, 1),
        (0, "qa"): CohortFigures(1, 5e5, 0),
        (1, "data"): CohortFigures(2, 7.5e5, 2),
    }


def test_with_cohorts_adds_the_table_the_tracks_and_the_catalogue() -> None:
    figures = {
        (0, "data"): CohortFigures(10, 1e6, 4),
        (0, UNKNOWN_TRACK): CohortFigures(30, 1e6, 2),
    }
    choice = choose_cohort_courses(figures, {0: 5.0}, BOUNDS, _tracks(), CATALOGUE)
    document: dict[str, Any] = {"k": 1, "segments": [{"id": 0, "size": 40}], "coarse": []}
    got = with_cohorts(document, choice, _tracks(), CATALOGUE)
    segment = got["segments"][0]
    assert segment["cohorts"] == choice.table[0] and segment["career_stage"] == "mid"
    assert segment["low_confidence_share"] == 0.15
    assert got["tracks"] == [
        {"id": "data", "name": "Data & ML"},
        {"id": "qa", "name": "QA & test"},
        {"id": OTHER_TRACK, "name": "Other"},
        {"id": UNKNOWN_TRACK, "name": "Unknown (no job title)"},
    ]
    assert got["catalogue"] == [c.to_dict() for c in CATALOGUE]
    assert got["career_stages"] == {"early_at_or_under": 3.0, "senior_at_or_over": 9.0}
    assert "cohorts" not in document["segments"][0]  # the input is left as it was


def test_the_trained_table_is_what_the_served_learners_give(
    trained_small: TrainingResult, small_raw: pd.DataFrame, tmp_path: Path
) -> None:
    """Every training learner placed by `assign --per-learner` (the service's placement): its
    segment, track and confidence, with its CTC as the runtime cleans it, give each cohort's
    learners, median pay and low-confidence count in profiles.json, and its course."""
    model = load_model(trained_small.folder)
    source = write_learners(small_raw, tmp_path / "train.parquet")
    out = tmp_path / "learners.parquet"
    assign_table(source, out, model, per_learner=True, chunk_rows=5_000)
    served = pd.read_parquet(out)
    served = served[served["error"].isna()]
    rows = served["row"].to_numpy(np.int64)
    clean = apply_rules(raw_arrays(small_raw.iloc[rows]), model.kernel.rules)
    years = np.maximum(model.kernel.tables.reference_year - np.asarray(clean.orgyear, float), 0)
    served = served.assign(ctc=np.asarray(clean.ctc, np.float64), years=years)
    assert (served["track"].to_numpy(object) == np.asarray(clean.track, object)).all()
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    checked = 0
    for segment in profiles["segments"]:
        mine = served[served["segment_id"] == segment["id"]]
        assert sum(row["learners"] for row in segment["cohorts"]) == len(mine) == segment["size"]
        for row in segment["cohorts"]:
            cohort = mine[mine["track"] == row["track"]]
            assert len(cohort) == row["learners"], (segment["id"], row["track"])
            assert int((cohort["confidence"] == "low").sum()) == row["low_confidence"]
            if len(cohort):
                assert round(float(np.median(cohort["ctc"])) / LPA, 2) == row["median_ctc_lpa"]
                assert set(cohort["course"]) <= set(row["by_stage"].values())
                assert cohort["course"].tolist() == [
                    model.cohorts.course_of(segment["id"], row["track"], y) for y in cohort["years"]
                ]
                # The report's learners per course: those who get it at their own stage.
                got = cohort.groupby("course")["confidence"].agg(
                    learners="size", low=lambda c: int((c == "low").sum())
                )
                assert sorted(course_learners(row)) == sorted(
                    (str(c), int(n), int(lo)) for c, n, lo in got.itertuples()
                )
                checked += 1
    assert checked >= 3 * len(profiles["segments"])


def test_every_fitting_course_says_why_and_other_titles_say_it_is_the_general_one() -> None:
    from training.insights.courses import _how

    course, how = choose_course("other", "mid", DEFAULT_COURSES)
    assert how == "fits" and "titles no track matches" in _how(how, course, "other", "mid")
    course, how = choose_course("leadership", "senior", DEFAULT_COURSES)
    assert _how(how, course, "leadership", "senior").endswith(
        "the catalogue's course for this track at the senior career stage."
    )


def test_a_cohort_s_learners_go_to_the_course_of_their_own_stage() -> None:
    row = {
        "course": "ds",
        "learners": 10,
        "low_confidence": 3,
        "by_stage": {"early": "ds", "mid": "ds", "senior": "lead"},
        "learners_by_stage": {"early": 2, "mid": 5, "senior": 3},
        "low_confidence_by_stage": {"early": 1, "mid": 0, "senior": 2},
    }
    assert course_learners(row) == [("ds", 7, 1), ("lead", 3, 2)]
    # Without counts by stage (an older model, or the Spark engine): all at the segment's stage.
    older = {k: v for k, v in row.items() if not k.endswith("_by_stage")}
    assert course_learners(older) == [("ds", 10, 3)]
