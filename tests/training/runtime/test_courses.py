"""The catalogue entries and a model's course per cohort (training.runtime.courses): what an
entry fits, the frozen table's lookups (one cohort, and codes for many), its JSON, and the
tables that cannot work."""

from __future__ import annotations

import numpy as np
import pytest

from training.runtime.courses import CAREER, COURSE, DEFAULT_COURSES, CohortCourses, Course

TRACKS = ["data", "backend", "other", "unknown"]


def _cohorts() -> CohortCourses:
    return CohortCourses(
        tracks=TRACKS,
        segment_ids=[2, 0],
        course=[["ds", "sd", "sd", "sd"], ["lead", "lead", "sd", "lead"]],
        names={"ds": "Data science", "sd": "Software development", "lead": "Leadership"},
    )


def test_an_entry_fits_its_tracks_and_stages() -> None:
    lead = Course("lead", "Leadership", COURSE, "leadership", ("backend",), ("senior",))
    assert lead.fits("backend", "senior") and lead.fits("backend")
    assert not lead.fits("backend", "mid") and not lead.fits("data", "senior")
    anyone = Course("mock", "Mock interviews", CAREER, "job switch", ("*",))
    assert anyone.fits("qa", "early") and anyone.fits("unknown")
    assert Course.from_dict(lead.to_dict()) == lead


def test_the_default_catalogue_teaches_every_named_track() -> None:
    """Each default track (and other) is listed by a course; career services are separate."""
    from training.runtime.tracks import DEFAULT_TRACKS, OTHER_TRACK

    courses = [c for c in DEFAULT_COURSES if c.kind == COURSE]
    for track in [*(t.id for t in DEFAULT_TRACKS), OTHER_TRACK]:
        assert any(track in c.tracks for c in courses), track
    assert {c.kind for c in DEFAULT_COURSES} == {COURSE, CAREER}


def test_one_cohort_and_many_give_the_same_courses() -> None:
    cohorts = _cohorts()
    assert cohorts.course_of(2, "data") == "ds"
    assert cohorts.course_of(0, "data") == "lead"
    # A track the model does not know is answered as unknown's.
    assert cohorts.course_of(2, "astronaut") == cohorts.course_of(2, "unknown") == "sd"
    assert cohorts.courses == ("ds", "sd", "lead")
    codes = cohorts.codes([0, 2])  # a kernel's centre order
    assert codes.shape == (2, len(TRACKS))
    for i, segment in enumerate([0, 2]):
        for j, track in enumerate(TRACKS):
            assert cohorts.courses[codes[i, j]] == cohorts.course_of(segment, track)
    assert codes.dtype == np.intp


def test_the_table_survives_its_json() -> None:
    cohorts = _cohorts()
    assert CohortCourses.from_dict(cohorts.to_dict()) == cohorts
    one = CohortCourses.constant([0, 1], TRACKS, DEFAULT_COURSES[0])
    assert {c for row in one.course for c in row} == {DEFAULT_COURSES[0].id}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"course": [["ds", "sd", "sd", "sd"]]}, "cohorts: one course per segment and track"),
        ({"tracks": ["data", "backend", "other", "x"]}, "cohorts: the unknown track needs"),
        (
            {"names": {"ds": "Data science", "sd": "Software"}},
            "cohorts: courses without a name: lead",
        ),
    ],
)
def test_a_table_that_cannot_work_is_refused(change: dict[str, object], message: str) -> None:
    values = {**_cohorts().to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        CohortCourses.from_dict(values)
