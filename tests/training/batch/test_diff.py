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
from training.runtime.artifacts import KERNEL_JSON, LATEST_FILE, MANIFEST_FILE
from training.runtime.kernel import Kernel
from training.runtime.loader import load_model
from training.runtime.placement import learner_errors
from training.runtime.schema import RAW_FIELDS
from training.store.staging import finalize_manifest


def _crafted(models: Path, target: Path) -> Path:
    """A sealed copy of the latest model of `models` as another version whose centres moved:
    the first centre half a unit along the first input, the second along the last."""
    copy = copy_models(models, target)
    old = copy / (copy / LATEST_FILE).read_text(encoding="utf-8").strip()
    folder = old.rename(copy / "crafted")
    (copy / LATEST_FILE).write_text("crafted", encoding="utf-8")
    doc = json.loads((folder / KERNEL_JSON).read_text(encoding="utf-8"))
    centers = np.asarray(doc["kmeans"]["centers"])
    centers[0, 0] += 0.5
    centers[1, -1] -= 0.5
    doc["kmeans"]["centers"] = centers.tolist()
    (folder / KERNEL_JSON).write_text(json.dumps(doc), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["version"] = "crafted"
    finalize_manifest(folder, manifest)
    return folder


def _by_hand(kernel: Kernel, columns: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Each learner's segment id, its inputs and their squared gaps to its centre, by numpy."""
    _, values = kernel.featurize(columns)
    x = np.column_stack([np.asarray(values[f], float) for f in kernel.features])
    z = (np.clip(x, kernel.lower, kernel.upper) - kernel.mean) / kernel.scale
    distances = ((z[:, None, :] - kernel.centers[None, :, :]) ** 2).sum(axis=2)
    nearest = distances.argmin(axis=1)
    return kernel.segment_ids[nearest], x, (z - kernel.centers[nearest]) ** 2


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
    before, x_old, gap_old = _by_hand(old.kernel, placed)
    after, x_new, gap_new = _by_hand(new.kernel, placed)
    assert summary.moves == dict(Counter(zip(before.tolist(), after.tolist(), strict=True)))
    assert summary.rows == len(frame) and summary.placed == int(ok.sum()) == len(frame) - 10
    assert 0 < summary.moved < summary.placed

    got = [r for r in rows if r["error"] is None]
    names = list(old.kernel.features)
    changed = np.abs(gap_new - gap_old).argmax(axis=1)
    for i, row in enumerate(got):
        assert (row["from_segment_id"], row["to_segment_id"]) == (before[i], after[i])
        assert row["moved"] == (before[i] != after[i])
        if not row["moved"]:
            assert row["changed_input"] is None and row["changed_input_old"] is None
            continue
        j = changed[i]
        assert row["changed_input"] == names[j]
        assert row["changed_input_old"] == pytest.approx(x_old[i, j])
        assert row["changed_input_new"] == pytest.approx(x_new[i, j])
        assert (row["old_version"], row["new_version"]) == (old.version, "crafted")
        assert row["from_segment_name"] == old.names()[before[i]]
        assert row["to_confidence"] in ("high", "low") and row["from_track"] == row["to_track"]
    assert sum(summary.changed_inputs.values()) == summary.moved
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
