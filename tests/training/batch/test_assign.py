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
from tests.training.batch.helpers import invoke, iter_output, model_with_foreign_drift, with_junk
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
        assert row["row"] == i + 1
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
    assert table.column("row").to_pylist() == list(range(1, 311))


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
