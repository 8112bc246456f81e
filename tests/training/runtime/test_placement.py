"""The runtime's batch placement (training.runtime.placement): its edge rules are the service's
request bounds, sentence for sentence, a learner's history reaches its features, and each learner
gets its track and its cohort's course."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.schemas import Learner, describe_item_error
from service.segmenter import Segmenter
from tests.helpers import JUNK, LEARNERS
from training.runtime.ops import Coded
from training.runtime.placement import LIMITS, learner_errors, learner_track, place, raw_columns
from training.runtime.schema import RAW_FIELDS

ITEMS: list[dict[str, Any]] = [
    {"ctc": None},
    {"ctc": 0},
    {"ctc": -3.5},
    {"ctc": LIMITS.ctc_max},
    {"ctc": LIMITS.ctc_max * 1.5},
    {"ctc": 5e5, "orgyear": -1},
    {"ctc": 5e5, "orgyear": LIMITS.year_max + 1, "ctc_updated_year": -0.5},
    {"ctc": 5e5, "company_hash": "c" * LIMITS.text_max},
    {"ctc": 5e5, "company_hash": "c" * (LIMITS.text_max + 1)},
    {"ctc": 5e5, "job_position": "j" * 999},
    {"ctc": 5e5, "email_hash": "e" * (LIMITS.email_max + 1)},
    {"ctc": 0, "orgyear": -1, "company_hash": "c" * 300, "email_hash": "e" * 200},
    JUNK,
    *LEARNERS,
]


def test_the_edge_rules_are_the_service_s_sentence_for_sentence() -> None:
    """Every item: the runtime's error is the one /segment/batch gives it (None: it is placed)."""
    columns = {name: [item.get(name) for item in ITEMS] for name in (*RAW_FIELDS, "email_hash")}
    for item, error in zip(ITEMS, learner_errors(columns), strict=True):
        try:
            Learner.model_validate(item)
        except ValueError:
            assert error == describe_item_error(item), item
        else:
            assert error is None, item


@pytest.mark.parametrize("name", ["ctc", "orgyear", "company_hash"])
def test_numpy_columns_and_lists_give_the_same_errors(name: str) -> None:
    columns: dict[str, Any] = {field: [item.get(field) for item in ITEMS] for field in RAW_FIELDS}
    arrays = dict(columns)
    numeric = name in ("ctc", "orgyear")
    arrays[name] = np.array(
        [np.nan if v is None else v for v in columns[name]] if numeric else columns[name],
        dtype=np.float64 if numeric else object,
    )
    assert learner_errors(arrays) == learner_errors(columns)


def test_history_reaches_the_features(service_model_dir: Path) -> None:
    segmenter = Segmenter.load(service_model_dir)
    learners = [LEARNERS[0], LEARNERS[0]]
    columns = raw_columns(learners)
    alone = place(segmenter.model, columns)
    np.testing.assert_array_equal(alone.features, segmenter.place(columns).features)
    _, plain = segmenter.model.featurize(columns, ("n_records", "ctc_growth"))
    _, with_history = segmenter.model.featurize(
        columns,
        ("n_records", "ctc_growth"),
        {"n_records": np.array([1.0, 4.0]), "ctc_growth": np.array([0.0, 0.2])},
    )
    assert plain["n_records"].tolist() == [1.0, 1.0]
    assert with_history["n_records"].tolist() == [1.0, 4.0]
    assert with_history["ctc_growth"].tolist() == [0.0, 0.2]


def _coded(values: list[Any]) -> Coded:
    """`values` numbered, with a repeated entry in the uniques (they need not be distinct)."""
    uniques = [*dict.fromkeys(values), values[0]]
    index = {value: i for i, value in enumerate(uniques[:-1])}
    return Coded(np.array([index[v] for v in values], np.intp), uniques)


def test_coded_text_and_counted_lengths_give_the_same_errors() -> None:
    """Text given as codes, and email lengths counted by a reader, say what the strings say."""
    columns: dict[str, Any] = {
        field: [item.get(field) for item in ITEMS] for field in (*RAW_FIELDS, "email_hash")
    }
    coded = {
        **{field: columns[field] for field in RAW_FIELDS},
        "company_hash": _coded(columns["company_hash"]),
        "job_position": _coded(columns["job_position"]),
    }
    lengths = np.array([len(v) if isinstance(v, str) else 0 for v in columns["email_hash"]])
    assert learner_errors(coded, {"email_hash": lengths}) == learner_errors(columns)


def test_coded_text_places_learners_as_plain_text(service_model_dir: Path) -> None:
    """The same placement, warnings included, whether the text comes coded or as strings."""
    segmenter = Segmenter.load(service_model_dir)
    learners = [*LEARNERS, JUNK, *LEARNERS[::-1]]
    errors = learner_errors(raw_columns(learners))
    learners = [one for one, error in zip(learners, errors, strict=True) if error is None]
    columns = raw_columns(learners)
    coded = {
        **columns,
        "company_hash": _coded(columns["company_hash"]),
        "job_position": _coded(columns["job_position"]),
    }
    cohorts = segmenter.cohorts
    plain = place(segmenter.model, columns, cohorts=cohorts)
    by_code = place(segmenter.model, coded, cohorts=cohorts)
    np.testing.assert_array_equal(plain.features, by_code.features)
    np.testing.assert_array_equal(plain.nearest, by_code.nearest)
    np.testing.assert_array_equal(plain.distance, by_code.distance)
    assert plain.warnings == by_code.warnings
    assert plain.warning_counts == by_code.warning_counts
    assert plain.track_ids() == by_code.track_ids()
    assert plain.course_ids() == by_code.course_ids()


def test_each_learner_gets_its_track_and_its_cohort_s_course(service_model_dir: Path) -> None:
    """place() answers the track of each title and the course of its segment x track; without
    the cohorts it answers the tracks alone; one learner's track is the batch's."""
    segmenter = Segmenter.load(service_model_dir)
    titles = ["Backend Engineer", "Data Scientist", "SDET", "Other", "Not Available", None, "iOS"]
    learners = [{**LEARNERS[1], "job_position": t} for t in titles] * 3
    columns = raw_columns(learners)
    placed = place(segmenter.model, columns, cohorts=segmenter.cohorts)
    tracks = placed.track_ids()
    assert tracks == ["backend", "data", "qa", "other", "unknown", "unknown", "mobile"] * 3
    segments = segmenter.model.segment_ids[placed.nearest].tolist()
    courses = placed.course_ids()
    years = placed.features[:, segmenter.model.features.index("years_experience")].tolist()
    assert courses == [
        segmenter.cohorts.course_of(s, t, y)
        for s, t, y in zip(segments, tracks, years, strict=True)
    ]
    assert placed.course is not None
    names = [placed.course_names[i] for i in placed.course.tolist()]
    assert names == [segmenter.cohorts.names[c] for c in courses]
    alone = place(segmenter.model, columns)
    assert alone.track_ids() == tracks and alone.course is None and alone.course_ids() is None
    assert [learner_track(segmenter.model.rules, t) for t in titles * 3] == tracks
