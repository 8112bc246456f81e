"""python -m training diff (training.batch.diff): every row placed by two models end to end, the
moves and the input behind each recomputed with plain numpy on a crafted pair of models, the
summary, learner ids, and one-sentence errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import copy_models, flip_byte
from tests.training.batch.helpers import invoke, iter_output, with_junk
from training.batch.diff import MOVE_COLUMNS, diff_table, summary_path
from training.batch.reading import raw_arrays
from training.data.load import read_learners_frame
from training.data.synth import generate_learners
from training.runtime.artifacts import KERNEL_JSON, LATEST_FILE, MANIFEST_FILE, PROFILES_JSON
from training.runtime.kernel import Kernel
from training.runtime.loader import load_model
from training.runtime.placement import learner_errors
from training.runtime.schema import RAW_FIELDS
from training.store.staging import finalize_manifest


def _crafted(
    models: Path,
    target: Path,
    *,
    tiers: bool = False,
    rename: bool = False,
    course: bool = False,
) -> Path:
    """A sealed copy of the latest model of `models` as another version whose centres moved
    (the first centre half a unit along the first input, the second along the last); with
    `tiers` every tier edge moved up (some companies change tier, nothing else changes), with
    `rename` the first segment renamed, with `course` the first segment given the second's
    courses."""
    copy = copy_models(models, target)
    old = copy / (copy / LATEST_FILE).read_text(encoding="utf-8").strip()
    folder = old.rename(copy / "crafted")
    (copy / LATEST_FILE).write_text("crafted", encoding="utf-8")
    doc = json.loads((folder / KERNEL_JSON).read_text(encoding="utf-8"))
    centers = np.asarray(doc["kmeans"]["centers"])
    centers[0, 0] += 0.5
    centers[1, -1] -= 0.5
    doc["kmeans"]["centers"] = centers.tolist()
    if tiers:
        edges = doc["feature_tables"]["tier_edges"]
        doc["feature_tables"]["tier_edges"] = [e + 0.3 for e in edges]
    if course:
        rows = doc["cohorts"]["course"]
        rows[0] = list(rows[1])
        staged = doc["cohorts"].get("by_stage")
        if staged is not None:  # placements answer the learner's stage: swap early and senior
            staged[0] = [list(reversed(cell)) for cell in staged[0]]
    (folder / KERNEL_JSON).write_text(json.dumps(doc), encoding="utf-8")
    if rename:
        profiles = json.loads((folder / PROFILES_JSON).read_text(encoding="utf-8"))
        profiles["segments"][0]["name"] = "Renamed by the test"
        (folder / PROFILES_JSON).write_text(json.dumps(profiles), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["version"] = "crafted"
    finalize_manifest(folder, manifest)
    return folder


def _by_hand(kernel: Kernel, columns: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Each learner's segment id, its inputs and their clipped values, by numpy."""
    _, values = kernel.featurize(columns)
    x = np.column_stack([np.asarray(values[f], float) for f in kernel.features])
    clipped = np.clip(x, kernel.lower, kernel.upper)
    z = (clipped - kernel.mean) / kernel.scale
    distances = ((z[:, None, :] - kernel.centers[None, :, :]) ** 2).sum(axis=2)
    nearest = distances.argmin(axis=1)
    return kernel.segment_ids[nearest], x, clipped


@pytest.fixture
def table(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    frame = with_junk(read_learners_frame(generate_learners(rows=3_000, seed=11), origin="t"), 300)
    frame = frame.assign(learner_id=[f"u-{i}" for i in range(len(frame))])
    path = tmp_path / "learners.parquet"
    frame.to_parquet(path, index=False)
    return path, frame


def test_moves_and_the_input_behind_each_recomputed(
    service_model_dir: Path, tmp_path: Path, table: tuple[Path, pd.DataFrame]
) -> None:
    """From x to counts and each moved learner's input (and its values) equal a plain numpy
    recomputation; rows out = rows in, junk keeps its error."""
    source, frame = table
    new_folder = _crafted(service_model_dir, tmp_path / "crafted-models")
    old, new = load_model(service_model_dir), load_model(new_folder)
    out = tmp_path / "moves.parquet"
    summary = diff_table(source, out, old, new, chunk_rows=700)
    rows = list(iter_output(out))
    assert list(rows[0]) == ["row", "learner_id", *MOVE_COLUMNS[1:]]
    assert [r["row"] for r in rows] == list(range(len(frame)))
    assert [r["learner_id"] for r in rows] == frame["learner_id"].tolist()

    columns = raw_arrays(frame)
    ok = np.array([e is None for e in learner_errors(columns)])
    placed = {name: columns[name][ok] for name in RAW_FIELDS}
    before, x_old, _ = _by_hand(old.kernel, placed)
    after, x_new, _ = _by_hand(new.kernel, placed)
    assert summary.moves == dict(Counter(zip(before.tolist(), after.tolist(), strict=True)))
    assert summary.rows == len(frame) and summary.placed == int(ok.sum()) == len(frame) - 10
    assert 0 < summary.moved < summary.placed

    got = [r for r in rows if r["error"] is None]
    for i, row in enumerate(got):
        assert (row["from_segment_id"], row["to_segment_id"]) == (before[i], after[i])
        assert row["moved"] == (before[i] != after[i])
        assert row["renamed"] is False and row["course_changed"] == (
            row["from_course"] != row["to_course"]
        )
        if not row["moved"]:
            assert row["reason"] is None and row["changed_input"] is None
            continue
        # Only the centres moved: every learner's inputs are the same under both models.
        assert np.array_equal(x_old[i], x_new[i])
        assert row["reason"] == "segments_moved" and row["changed_input"] is None
        assert (row["old_version"], row["new_version"]) == (old.version, "crafted")
        assert row["from_segment_name"] == old.names()[before[i]]
        assert row["to_confidence"] in ("high", "low") and row["from_track"] == row["to_track"]
    assert summary.reasons == {"input_changed": 0, "segments_moved": summary.moved}
    assert summary.changed_inputs == {}
    junk = [r for r in rows if r["error"] is not None]
    assert len(junk) == 10 and all(r["moved"] is None and r["to_segment_id"] is None for r in junk)


def test_the_same_model_moves_nobody(service_model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    generate_learners(rows=500, seed=2).to_csv(source, index=False)
    model = load_model(service_model_dir)
    summary = diff_table(source, tmp_path / "moves.csv", model, model)
    assert summary.moved == 0 and summary.placed == summary.rows == 500
    assert summary_path(tmp_path / "moves.csv") == tmp_path / "moves.summary.json"
    document = json.loads((tmp_path / "moves.summary.json").read_text())
    assert document["moved"] == 0 and document["share_moved"] == 0
    assert sum(m["learners"] for m in document["moves"]) == 500
    assert all(m["from_segment_id"] == m["to_segment_id"] for m in document["moves"])


def test_cli_prints_the_from_to_table_and_writes_the_summary(
    service_model_dir: Path, tmp_path: Path, table: tuple[Path, pd.DataFrame]
) -> None:
    source, _ = table
    new_folder = _crafted(service_model_dir, tmp_path / "crafted-models")
    out, summary = tmp_path / "out" / "moves.parquet", tmp_path / "s.json"
    result = invoke(
        "diff",
        ["--old", str(service_model_dir), "--new", str(new_folder), "--data", str(source),
         "--out", str(out), "--summary-json", str(summary)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(summary.read_text())
    assert f"{document['moved']:,}" in result.stdout and "from" in result.stdout
    assert document["new_version"] == "crafted" and document["rows"] == 3_010
    assert sum(1 for r in iter_output(out) if r["moved"]) == document["moved"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_cli_errors_are_one_sentence(
    service_model_dir: Path, tmp_path: Path, table: tuple[Path, pd.DataFrame]
) -> None:
    source, _ = table
    broken = copy_models(service_model_dir, tmp_path / "broken")
    flip_byte(broken / (broken / LATEST_FILE).read_text().strip() / KERNEL_JSON)
    out = str(tmp_path / "moves.parquet")
    model = str(service_model_dir)
    cases = {
        "does not exist": ["--old", str(tmp_path / "nope"), "--new", model, "--data", str(source)],
        "SHA-256": ["--old", model, "--new", str(broken), "--data", str(source)],
        "missing.csv": ["--old", model, "--new", model, "--data", str(tmp_path / "missing.csv")],
    }
    for words, args in cases.items():
        result = invoke("diff", [*args, "--out", out])
        assert result.exit_code == 2, result.output
        assert "error:" in result.output and words in result.output, result.output
    result = invoke(
        "diff", ["--old", model, "--new", model, "--data", str(source), "--out", "x.txt"]
    )
    assert result.exit_code == 2 and "name it .parquet" in result.output
    assert not Path(out).exists()


def test_a_learner_whose_tier_changed_is_named_and_the_others_moved_with_the_segments(
    service_model_dir: Path, tmp_path: Path, table: tuple[Path, pd.DataFrame]
) -> None:
    """Tier edges moved (only company_tier differs) and centres moved: a mover whose tier
    changed is named company_tier with two different values; a mover with identical inputs is
    segments_moved; the named input's old and new values always differ."""
    source, frame = table
    new_folder = _crafted(service_model_dir, tmp_path / "crafted-models", tiers=True)
    old, new = load_model(service_model_dir), load_model(new_folder)
    assert "company_tier" in new.kernel.features
    summary = diff_table(source, tmp_path / "moves.parquet", old, new, chunk_rows=700)
    rows = [r for r in iter_output(tmp_path / "moves.parquet") if r["error"] is None]
    columns = raw_arrays(frame)
    ok = np.array([e is None for e in learner_errors(columns)])
    placed = {name: columns[name][ok] for name in RAW_FIELDS}
    _, x_old, _ = _by_hand(old.kernel, placed)
    _, x_new, _ = _by_hand(new.kernel, placed)
    tier = list(new.kernel.features).index("company_tier")
    differs = np.flatnonzero((x_old != x_new).any(axis=0))
    assert differs.tolist() == [tier]
    reasons: Counter[str] = Counter()
    for i, row in enumerate(rows):
        if not row["moved"]:
            continue
        reasons[row["reason"]] += 1
        if x_old[i, tier] != x_new[i, tier]:
            assert row["reason"] == "input_changed" and row["changed_input"] == "company_tier"
            assert row["changed_input_old"] == x_old[i, tier] != row["changed_input_new"]
            assert row["changed_input_new"] == x_new[i, tier]
        else:
            assert row["reason"] == "segments_moved" and row["changed_input"] is None
    assert reasons["input_changed"] > 0 and reasons["segments_moved"] > 0
    assert summary.reasons == dict(reasons)
    assert summary.changed_inputs == {"company_tier": reasons["input_changed"]}
    document = json.loads(summary_path(tmp_path / "moves.parquet").read_text())
    assert document["reasons"] == dict(reasons)


def test_renamed_segments_and_changed_courses_are_flagged_and_counted(
    service_model_dir: Path, tmp_path: Path, table: tuple[Path, pd.DataFrame]
) -> None:
    source, _ = table
    new_folder = _crafted(service_model_dir, tmp_path / "m", rename=True, course=True)
    old, new = load_model(service_model_dir), load_model(new_folder)
    first = int(new.profiles["segments"][0]["id"])
    out = tmp_path / "moves.parquet"
    summary = diff_table(source, out, old, new)
    rows = [r for r in iter_output(out) if r["error"] is None]
    stayed = [r for r in rows if r["from_segment_id"] == r["to_segment_id"] == first]
    assert stayed and all(r["renamed"] for r in stayed)
    renamed = "Renamed by the test"
    assert all(r["to_segment_name"] == renamed != r["from_segment_name"] for r in stayed)
    assert not any(r["renamed"] for r in rows if r not in stayed)
    assert summary.renames == [(first, old.names()[first], "Renamed by the test", len(stayed))]
    changed = [r for r in rows if r["course_changed"]]
    assert changed and all(r["from_course"] != r["to_course"] for r in changed)
    assert all(r["from_course"] == r["to_course"] for r in rows if not r["course_changed"])
    assert summary.course_changed == len(changed)
    assert summary.course_changes == dict(
        Counter((r["from_course"], r["to_course"]) for r in changed)
    )
    document = json.loads(summary_path(out).read_text())
    assert document["renamed"] == len(stayed) and document["course_changed"] == len(changed)
    assert document["renames"] == [
        {"segment_id": first, "old_name": old.names()[first],
         "new_name": "Renamed by the test", "learners": len(stayed)}
    ]  # fmt: skip
    result = invoke(
        "diff",
        ["--old", str(service_model_dir), "--new", str(new_folder), "--data", str(source),
         "--out", str(tmp_path / "again.parquet")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Renamed by the test" in result.stdout and f"{len(changed):,}" in result.stdout
