"""A placement's course follows the learner's own career stage (its years of experience), not its
segment's: the same learners get the same course through POST /segment, /segment/batch, the
numpy placement, `assign` and the explanation; a model saved before courses by stage still loads
and answers the segment's-stage course."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from service.main import create_app
from service.segmenter import Segmenter
from tests.helpers import TestClient, copy_models, service_settings
from training.batch.assign import assign_table
from training.data.synth import write_learners
from training.runtime.artifacts import KERNEL_JSON, MANIFEST_FILE
from training.runtime.courses import STAGES
from training.runtime.loader import load_model
from training.runtime.placement import place, raw_columns
from training.store.staging import finalize_manifest


def _learners(model_dir: Path) -> list[dict[str, Any]]:
    """An engineering manager of 12 years on 45 LPA at the best-paying known company, and a
    backend engineer of 1 year on 6 LPA at the same company."""
    tables = load_model(model_dir).kernel.tables
    known = [c for c, n in tables.company_size.items() if n >= tables.min_group_size]
    top = max(known, key=lambda c: tables.company_median[c])
    year = tables.reference_year
    manager = {
        "company_hash": top,
        "orgyear": year - 12,
        "ctc": 4_500_000,
        "job_position": "Engineering Manager",
        "ctc_updated_year": year,
    }
    junior = {**manager, "orgyear": year - 1, "ctc": 600_000, "job_position": "Backend"}
    return [manager, junior]


def test_the_learner_s_own_stage_picks_the_course_on_every_path(
    client: TestClient, service_model_dir: Path, tmp_path: Path
) -> None:
    learners = _learners(service_model_dir)
    cohorts = load_model(service_model_dir).cohorts
    assert [cohorts.stage(12.0), cohorts.stage(1.0)] == ["senior", "early"]
    # In every segment (so whichever the two land in): the manager's cohort teaches leadership
    # at the senior stage, the junior's software development at the early one.
    for segment in cohorts.segment_ids:
        assert cohorts.course_of(segment, "leadership", 12.0) == "engineering-leadership"
        assert cohorts.course_of(segment, "backend", 1.0) == "software-development"
    single = [client.post("/segment", json=learner).json() for learner in learners]
    assert [(a["track"], a["course"]) for a in single] == [
        ("leadership", "engineering-leadership"),
        ("backend", "software-development"),
    ]
    batch = client.post("/segment/batch", json={"learners": learners}).json()["results"]
    expected = [(a["segment_id"], a["course"]) for a in single]
    assert [(b["segment_id"], b["course"]) for b in batch] == expected
    model = load_model(service_model_dir)
    placed = place(model.kernel, raw_columns(learners), cohorts=model.cohorts)
    segments = model.kernel.segment_ids[placed.nearest].tolist()
    assert list(zip(segments, placed.course_ids() or [], strict=True)) == expected
    table = pd.DataFrame(learners).assign(email_hash=["manager", "junior"])
    source = write_learners(table, tmp_path / "two.parquet")
    out = tmp_path / "answers.parquet"
    assign_table(source, out, model)
    answers = pd.read_parquet(out)
    assert list(zip(answers["segment_id"], answers["course"], strict=True)) == expected
    # The explanation's destinations: n more years on the path take the course of n more years.
    for learner, own in zip(learners, (12.0, 1.0), strict=True):
        explained = client.post("/segment/explain", json=learner).json()
        assert explained["course"] == cohorts.course_of(
            explained["segment_id"], explained["track"], own
        )
        assert explained["path"]
        for step in explained["path"]:
            years = own + step["years"]
            assert step["course"] == cohorts.course_of(
                step["segment_id"], explained["track"], years
            )
    # A segment's table shows each cohort's course at every stage, as placements answer them.
    for answer in single:
        summary = client.get(f"/segments/{answer['segment_id']}").json()
        row = next(c for c in summary["cohorts"] if c["track"] == answer["track"])
        assert set(row["by_stage"]) == set(STAGES)
        assert answer["course"] in row["by_stage"].values()


def test_a_model_without_courses_by_stage_loads_and_answers_the_segment_s_course(
    service_model_dir: Path, tmp_path: Path
) -> None:
    models = copy_models(service_model_dir, tmp_path / "models")
    folder = models / (models / "LATEST").read_text().strip()
    doc = json.loads((folder / KERNEL_JSON).read_text(encoding="utf-8"))
    for key in ("by_stage", "stages", "stage_bounds"):
        del doc["cohorts"][key]
    (folder / KERNEL_JSON).write_text(json.dumps(doc), encoding="utf-8")
    finalize_manifest(folder, json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    old = load_model(models).cohorts
    assert old.by_stage is None and old.stage(12.0) is None
    learners = _learners(service_model_dir)
    segmenter = Segmenter.load(models)
    with TestClient(create_app(service_settings(models))) as client:
        for learner in learners:
            answer = client.post("/segment", json=learner)
            assert answer.status_code == 200, answer.text
            found = answer.json()
            course = old.course_of(found["segment_id"], found["track"])
            assert found["course"] == course
            assert segmenter.assign(learner).course == course
        # The course map answers no course by stage: the old model has none.
        segments = client.get("/segments").json()["segments"]
        assert all(t["by_stage"] is None for s in segments for t in s["course_map"])
