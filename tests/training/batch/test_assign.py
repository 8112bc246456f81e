"""python -m training assign (training.batch.assign): the service's answers for every row of a
table, rows in = rows out with junk, streaming in chunks, worker processes, and one-sentence
errors (a model refused by the verified loader among them)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from service.main import create_app
from tests.helpers import TestClient, service_settings
from tests.training.batch.helpers import (
    FIELDS,
    invoke,
    iter_output,
    model_with_foreign_drift,
    with_junk,
)
from training.batch.assign import assign_table
from training.data.load import load_learners, read_learners_frame
from training.data.synth import generate_learners, write_learners
from training.runtime.artifacts import DRIFT_JSON, KERNEL_JSON, LATEST_FILE, ArtifactError
from training.runtime.loader import load_model

ANSWER_KEYS = (
    "segment_id",
    "segment_name",
    "coarse_segment_id",
    "track",
    "course",
    "course_name",
    "distance",
    "relative_margin",
    "confidence",
    "warnings",
    "model_version",
)


def _json_learners(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as the service receives them (every field, None for missing)."""
    rows = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in rows.to_dict(orient="records")]


def _service_answers(model_dir: Path, frame: pd.DataFrame) -> list[dict[str, Any]]:
    learners = _json_learners(frame)
    results: list[dict[str, Any]] = []
    with TestClient(create_app(service_settings(model_dir))) as client:
        for start in range(0, len(learners), 10_000):
            answer = client.post("/segment/batch", json={"learners": learners[start:][:10_000]})
            assert answer.status_code == 200, answer.text
            results += answer.json()["results"]
    return results


def _assign(args: list[str]) -> Any:
    return invoke("assign", args)


def _compare(
    rows: list[dict[str, Any]], answers: list[dict[str, Any]], frame: pd.DataFrame
) -> None:
    """Every output row says what the service said of the same row, in the same order."""
    assert len(rows) == len(answers) == len(frame)
    emails = frame["email_hash"].tolist()
    for i, (row, answer) in enumerate(zip(rows, answers, strict=True)):
        assert row["row"] == i  # from 0, as the API's batch index
        assert row["email_hash"] == emails[i]
        if "error" in answer:
            assert row["error"] == answer["error"], i
            assert all(row[key] is None for key in ANSWER_KEYS), i
            continue
        assert row["error"] is None, (i, row["error"])
        got = {key: row[key] for key in ANSWER_KEYS}
        want = {key: answer[key] for key in ANSWER_KEYS}
        assert got == want, i


def test_assign_answers_as_the_service_for_10_000_synthetic_learners(
    service_model_dir: Path, tmp_path: Path
) -> None:
    """10,000 synthetic learners with junk the service refuses, in Parquet: every output row is
    the /segment/batch answer to the same row (floats to the last bit), or its very error."""
    frame = with_junk(
        read_learners_frame(generate_learners(rows=10_000, seed=11), origin="test"), every=500
    )
    source = write_learners(frame, tmp_path / "learners.parquet")
    out = tmp_path / "answers.parquet"
    result = _assign(["--model", str(service_model_dir), "--data", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    answers = _service_answers(service_model_dir, frame)
    _compare(list(iter_output(out)), answers, frame)
    errors = [a for a in answers if "error" in a]
    assert len(errors) == 20 and len(frame) == 10_020
    assert "rows/s" in result.stderr  # the progress bar


def test_assign_answers_as_the_service_for_every_real_row(
    service_model_dir: Path, real_rows_path: Path, tmp_path: Path
) -> None:
    """The 116 genuine rows (junk included), read from the shared CSV, written as CSV."""
    out = tmp_path / "answers.csv"
    result = _assign(
        ["--model", str(service_model_dir), "--data", str(real_rows_path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    frame = load_learners(real_rows_path, progress=False)
    answers = _service_answers(service_model_dir, frame)
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    parsed = []
    for record in table.astype(object).where(table.notna(), None).to_dict(orient="records"):
        row = {str(key): value for key, value in record.items()}
        row["warnings"] = None if row["warnings"] is None else json.loads(row["warnings"])
        parsed.append(row)
    _compare(parsed, answers, frame)
    assert sum(bool(a["warnings"]) for a in answers) > 30  # the real junk was repaired, said so


def test_rows_in_equal_rows_out_with_the_error_column(
    service_model_dir: Path, tmp_path: Path
) -> None:
    """Junk rows keep their place, with only row, email_hash and error filled; chunks of 7 rows
    give the same table as one chunk."""
    frame = with_junk(read_learners_frame(generate_learners(rows=300, seed=2), origin="t"), 30)
    source = write_learners(frame, tmp_path / "learners.csv.gz")
    placing = load_model(service_model_dir)
    whole = assign_table(source, tmp_path / "one.parquet", placing, progress=None)
    small = assign_table(source, tmp_path / "small.parquet", placing, chunk_rows=7)
    assert whole.rows_in == whole.rows_out == small.rows_out == len(frame) == 310
    assert whole.errors == 10 and whole.placed == 300
    table = pq.read_table(tmp_path / "one.parquet")
    assert table.equals(pq.read_table(tmp_path / "small.parquet"))
    errors = table.column("error").to_pylist()
    junk_at = [i for i in range(len(frame)) if i % 31 == 0]
    assert [i for i, e in enumerate(errors) if e is not None] == junk_at
    assert errors[0] == "ctc: Input should be a valid number"
    assert errors[31] == "ctc: Input should be greater than 0"
    assert table.column("row").to_pylist() == list(range(310))


def test_assign_errors_are_one_sentence(service_model_dir: Path, tmp_path: Path) -> None:
    source = write_learners(generate_learners(rows=200, seed=4), tmp_path / "in.csv")
    png = tmp_path / "picture.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    cases = [
        (
            ["--model", str(tmp_path / "none"), "--data", str(source), "--out", "x.parquet"],
            f"The model folder {tmp_path / 'none'} does not exist.",
        ),
        (
            ["--model", str(tmp_path), "--data", str(source), "--out", "x.parquet"],
            "is not a model folder",
        ),
        (
            [
                "--model",
                str(service_model_dir),
                "--data",
                str(tmp_path / "no.csv"),
                "--out",
                str(tmp_path / "a.parquet"),
            ],
            "does not exist",
        ),
        (
            [
                "--model",
                str(service_model_dir),
                "--data",
                str(png),
                "--out",
                str(tmp_path / "a.parquet"),
            ],
            "is not a CSV file: it is a PNG image",
        ),
        (
            [
                "--model",
                str(service_model_dir),
                "--data",
                str(source),
                "--out",
                str(tmp_path / "a.json"),
            ],
            "name it .parquet, .pq, .csv or .csv.gz",
        ),
        (
            ["--model", str(service_model_dir), "--data", str(source), "--out", str(source)],
            "is the table being read",
        ),
        (
            [
                "--model",
                str(service_model_dir),
                "--data",
                str(source),
                "--out",
                str(tmp_path / "a.csv"),
                "--engine",
                "dask",
            ],
            "--engine must be local or spark",
        ),
        (
            [
                "--model",
                str(service_model_dir),
                "--data",
                str(source),
                "--out",
                str(tmp_path / "a.csv"),
                "--engine",
                "spark",
            ],
            "--engine spark writes Parquet",
        ),
    ]
    for args, message in cases:
        result = _assign(args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.stderr.split()), (message, result.stderr)
        assert result.stderr.strip().startswith("error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "picture.csv"]


def test_a_corrupted_model_is_refused(service_model_dir: Path, tmp_path: Path) -> None:
    from tests.helpers import copy_models, flip_byte

    models = copy_models(service_model_dir, tmp_path / "models")
    folder = models / (models / LATEST_FILE).read_text().strip()
    flip_byte(folder / KERNEL_JSON)
    with pytest.raises(ArtifactError, match=r"segmenter\.json does not match its SHA-256"):
        load_model(models)
    result = _assign(["--model", str(folder), "--data", "x.csv", "--out", "y.csv"])
    assert result.exit_code == 2 and "does not match its SHA-256" in result.stderr


def test_a_version_folder_and_its_models_folder_are_the_same_model(
    service_model_dir: Path,
) -> None:
    by_folder = load_model(service_model_dir)
    by_version = load_model(by_folder.folder)
    assert by_folder.version == by_version.version
    assert by_folder.names() == by_version.names() and by_folder.drift == by_version.drift
    assert math.isfinite(by_folder.kernel.confidence_threshold)


def test_worker_processes_give_the_same_table_and_stop_cleanly(
    service_model_dir: Path, tmp_path: Path
) -> None:
    """Chunks placed by two worker processes: the table one process writes, byte for byte in
    content; a run interrupted in the middle stops its workers and leaves nothing."""
    frame = with_junk(read_learners_frame(generate_learners(rows=4_000, seed=6), origin="t"), 90)
    source = write_learners(frame, tmp_path / "in.parquet")
    placing = load_model(service_model_dir)
    folder = tmp_path / "out"
    one = assign_table(source, folder / "one.parquet", placing, chunk_rows=500)
    two = assign_table(source, folder / "two.parquet", placing, chunk_rows=500, workers=2)
    assert one.rows_out == two.rows_out == len(frame) and one.errors == two.errors > 0
    assert pq.read_table(folder / "one.parquet").equals(pq.read_table(folder / "two.parquet"))

    def stop_after_two_chunks(label: str, rows: int, total: int | None) -> None:
        seen.append(rows)
        if len(seen) == 2:
            raise KeyboardInterrupt

    seen: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        assign_table(
            source,
            folder / "stopped.parquet",
            placing,
            chunk_rows=500,
            workers=2,
            progress=stop_after_two_chunks,
        )
    assert sorted(p.name for p in folder.iterdir()) == ["one.parquet", "two.parquet"]


def test_a_model_whose_drift_reference_describes_other_features_is_refused(
    service_model_dir: Path, tmp_path: Path
) -> None:
    """drift.json re-sealed in the manifest but written for other features: the verified loader
    refuses the model, and assign says so in one sentence (exit code 2), writing nothing."""
    folder = model_with_foreign_drift(service_model_dir, tmp_path / "models")
    source = write_learners(generate_learners(rows=100, seed=5), tmp_path / "in.csv")
    sentence = (
        f"{DRIFT_JSON} and {KERNEL_JSON} describe different models (features or segment ids "
        "differ); the model is refused."
    )
    with pytest.raises(ArtifactError) as refused:
        load_model(folder)
    assert str(refused.value) == sentence
    for model in (folder, folder.parent):
        out = tmp_path / "out.parquet"
        result = _assign(["--model", str(model), "--data", str(source), "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert " ".join(result.stderr.split()) == f"error: {sentence}"
        assert not out.exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_learner_id_is_echoed_and_rows_are_numbered_as_the_api_indexes(
    service_model_dir: Path, tmp_path: Path, suffix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A table's learner_id column comes back in every output row, beside `row` numbered from
    0: the same pairs as the API's `index` and `learner_id` for the same learners; an id over
    128 characters is the service's error (and not echoed); blank ids are none."""
    frame = with_junk(read_learners_frame(generate_learners(rows=120, seed=6), origin="t"), 30)
    ids: list[str | None] = [f"u-{i}" for i in range(len(frame))]
    ids[3], ids[7], ids[11] = None, "   ", "x" * 129
    table = frame.assign(learner_id=pd.Series(ids, dtype=object))
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        table.to_csv(source, index=False)
    else:
        table.to_parquet(source, index=False)
    out = tmp_path / "out.parquet"
    with caplog.at_level("DEBUG"):
        summary = assign_table(source, out, load_model(service_model_dir), chunk_rows=50)
    rows = list(iter_output(out))
    assert list(rows[0])[:3] == ["row", "learner_id", "email_hash"]
    assert [r["row"] for r in rows] == list(range(len(frame)))
    learners = _json_learners(frame)
    for learner, given in zip(learners, ids, strict=True):
        if given is not None and given.strip():
            learner["learner_id"] = given
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        answer = client.post("/segment/batch", json={"learners": learners})
    results = answer.json()["results"]
    assert [(r["row"], r["learner_id"]) for r in rows] == [
        (r["index"], r.get("learner_id")) for r in results
    ]
    assert rows[11]["error"] == "learner_id: String should have at most 128 characters"
    assert rows[11]["segment_id"] is None and summary.errors == 4 + 1
    assert rows[3]["learner_id"] is None and rows[7]["learner_id"] is None
    assert rows[5]["learner_id"] == "u-5" and rows[5]["segment_id"] is not None
    assert not [r for r in caplog.records if "u-5" in r.getMessage()]


def test_learner_id_per_learner_comes_from_the_latest_record(
    service_model_dir: Path, tmp_path: Path
) -> None:
    """Collapsed per email, a learner echoes the learner_id of the row kept (its latest)."""
    rows = pd.DataFrame(
        [
            {"email_hash": "a", "ctc": 500_000.0, "ctc_updated_year": 2019.0, "learner_id": "old"},
            {"email_hash": "a", "ctc": 700_000.0, "ctc_updated_year": 2021.0, "learner_id": "new"},
            {"email_hash": "b", "ctc": -1.0, "learner_id": "b-1"},
        ]
    )
    source = tmp_path / "in.csv"
    rows.reindex(columns=[*FIELDS, "learner_id"]).to_csv(source, index=False)
    out = tmp_path / "out.parquet"
    assign_table(source, out, load_model(service_model_dir), per_learner=True)
    table = {r["email_hash"]: r for r in iter_output(out)}
    assert list(table["a"])[:4] == ["row", "learner_id", "records", "email_hash"]
    assert table["a"]["learner_id"] == "new" and table["a"]["row"] == 1
    assert table["b"]["learner_id"] == "b-1" and table["b"]["error"] is not None
