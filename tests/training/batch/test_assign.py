"""python -m training assign (training.batch.assign): the service's answers for every row of a
table, rows in = rows out with junk, streaming in chunks, all-or-nothing output, --per-learner, and
one-sentence errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from service.main import create_app
from tests.helpers import TestClient, service_settings
from training.__main__ import app
from training.batch import assign as assign_module
from training.batch.assign import assign_table, iter_output, load_placement_model
from training.data.load import RawChunk, decode_chunk, load_learners, read_learners_frame
from training.data.synth import generate_learners, write_learners
from training.prep.features import LearnerData
from training.run import TrainingResult
from training.runtime.artifacts import ArtifactError
from training.runtime.placement import place

runner = CliRunner()

#: Rows the service refuses (each with the error it gives), in the loader's schema.
JUNK_ROWS: list[dict[str, Any]] = [
    {"ctc": None, "email_hash": "junk-1"},
    {"ctc": 0.0, "email_hash": "junk-2", "orgyear": 2015.0},
    {"ctc": -5.0, "email_hash": "junk-3"},
    {"ctc": 2e12, "email_hash": "junk-4"},
    {"ctc": 900_000.0, "orgyear": -3.0, "email_hash": "junk-5"},
    {"ctc": 900_000.0, "orgyear": 1e6, "ctc_updated_year": 2e5, "email_hash": "junk-6"},
    {"ctc": 900_000.0, "company_hash": "x" * 201, "email_hash": "junk-7"},
    {"ctc": 900_000.0, "job_position": "y" * 300, "email_hash": "junk-8"},
    {"ctc": 900_000.0, "email_hash": "e" * 129},
    {"ctc": 0.0, "orgyear": -1.0, "company_hash": "z" * 250, "email_hash": "junk-10"},
]
FIELDS = ("company_hash", "email_hash", "orgyear", "ctc", "job_position", "ctc_updated_year")
ANSWER_KEYS = (
    "segment_id",
    "segment_name",
    "coarse_segment_id",
    "distance",
    "relative_margin",
    "confidence",
    "warnings",
    "model_version",
)


def _with_junk(frame: pd.DataFrame, every: int) -> pd.DataFrame:
    """`frame` with a junk row inserted before every `every`-th row (all junk rows, cycling)."""
    junk = read_learners_frame(
        pd.DataFrame([{name: row.get(name) for name in FIELDS} for row in JUNK_ROWS]),
        origin="junk",
    )
    parts = []
    for i, start in enumerate(range(0, len(frame), every)):
        parts += [junk.iloc[[i % len(junk)]], frame.iloc[start : start + every]]
    return pd.concat(parts, ignore_index=True)


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
    result = runner.invoke(app, ["assign", *args])
    assert "Traceback" not in result.output
    return result


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
    frame = _with_junk(
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
    frame = _with_junk(read_learners_frame(generate_learners(rows=300, seed=2), origin="t"), 30)
    source = write_learners(frame, tmp_path / "learners.csv.gz")
    placing = load_placement_model(service_model_dir)
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


def test_an_interrupted_run_leaves_no_output(
    service_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the middle: no file at --out, nothing hidden left beside it; an older output
    stays as it was."""
    source = write_learners(generate_learners(rows=5_000, seed=3), tmp_path / "in.parquet")
    placing = load_placement_model(service_model_dir)
    real_place = place
    calls: list[int] = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_place(*args, **kwargs)

    monkeypatch.setattr(assign_module, "place", interrupted)
    folder = tmp_path / "out"
    for per_learner in (False, True):
        calls.clear()
        with pytest.raises(KeyboardInterrupt):
            assign_table(
                source, folder / "a.parquet", placing, chunk_rows=1000, per_learner=per_learner
            )
        assert list(folder.iterdir()) == []
    old = folder / "old.csv"
    old.write_text("row\n1\n")
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        assign_table(source, old, placing, chunk_rows=1000)
    assert old.read_text() == "row\n1\n"
    assert [p.name for p in folder.iterdir()] == ["old.csv"]


def test_per_learner_collapses_as_training_does(
    trained_small: TrainingResult,
    small_raw: pd.DataFrame,
    small_data: LearnerData,
    tmp_path: Path,
) -> None:
    """--per-learner on the training table itself: one row per learner, each placed where the
    model puts the training learner (the collapsed record, its history included)."""
    source = write_learners(small_raw, tmp_path / "train.parquet")
    out = tmp_path / "learners.parquet"
    result = _assign(
        [
            "--model",
            str(trained_small.folder),
            "--data",
            str(source),
            "--out",
            str(out),
            "--per-learner",
            "--chunk-rows",
            "3000",
        ]
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pandas()
    assert table["records"].sum() == len(small_raw)  # every input row is accounted for
    placed = table[table["error"].isna()]
    assert len(placed) == len(small_data.learners)
    kernel = load_placement_model(trained_small.folder).model
    features = small_data.features[list(kernel.features)].to_numpy(np.float64)
    found = kernel.nearest(features)
    expected = pd.DataFrame(
        {
            "segment_id_training": kernel.segment_ids[found.nearest],
            "distance_training": found.distance,
        },
        index=small_data.learners["learner_id"],
    )
    with_email = placed[placed["email_hash"].notna()].set_index("email_hash")
    assert len(with_email) > 0.9 * len(placed)
    joined = with_email.join(expected, how="inner")
    assert len(joined) == len(with_email)
    np.testing.assert_array_equal(joined["segment_id"], joined["segment_id_training"])
    np.testing.assert_array_equal(joined["distance"], joined["distance_training"])
    # Learners seen on several rows kept their history.
    assert (table["records"] > 1).any()


def test_per_learner_reports_learners_that_cannot_be_placed(
    service_model_dir: Path, tmp_path: Path
) -> None:
    rows = pd.DataFrame(
        [
            {"email_hash": "a", "ctc": 800_000.0, "orgyear": 2015.0, "ctc_updated_year": 2019.0},
            {"email_hash": "a", "ctc": 900_000.0, "orgyear": 2015.0, "ctc_updated_year": 2020.0},
            {"email_hash": "a", "ctc": 900_000.0, "orgyear": 2015.0, "ctc_updated_year": 2020.0},
            {"email_hash": "b", "ctc": None},
            {"email_hash": "b", "ctc": -1.0},
            {"email_hash": None, "ctc": 500_000.0},
            {"email_hash": None, "ctc": 500_000.0},
        ]
    )
    frame = read_learners_frame(rows.reindex(columns=list(FIELDS)), origin="t")
    source = write_learners(frame, tmp_path / "in.csv")
    out = tmp_path / "out.parquet"
    summary = assign_table(source, out, load_placement_model(service_model_dir), per_learner=True)
    assert summary.rows_in == 7 and summary.rows_out == 3 and summary.errors == 1
    table = {r["email_hash"]: r for r in iter_output(out)}
    assert table["a"]["records"] == 3 and table["a"]["row"] == 2  # the latest record
    assert table["b"]["records"] == 2 and table["b"]["segment_id"] is None
    assert table["b"]["error"] == (
        "None of the learner's 2 rows can be placed: ctc: Input should be a valid number"
    )
    # Two identical rows without an email are one learner (an exact duplicate).
    assert table[None]["records"] == 2 and table[None]["row"] == 6


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
    folder = models / (models / "LATEST").read_text().strip()
    flip_byte(folder / "segmenter.json")
    with pytest.raises(ArtifactError, match=r"segmenter\.json does not match its SHA-256"):
        load_placement_model(models)
    result = _assign(["--model", str(folder), "--data", "x.csv", "--out", "y.csv"])
    assert result.exit_code == 2 and "does not match its SHA-256" in result.stderr


def test_a_version_folder_and_its_models_folder_are_the_same_model(
    service_model_dir: Path,
) -> None:
    by_folder = load_placement_model(service_model_dir)
    by_version = load_placement_model(by_folder.folder)
    assert by_folder.version == by_version.version
    assert by_folder.names == by_version.names and by_folder.drift == by_version.drift
    assert math.isfinite(by_folder.model.confidence_threshold)


def test_worker_processes_give_the_same_table_and_stop_cleanly(
    service_model_dir: Path, tmp_path: Path
) -> None:
    """Chunks placed by two worker processes: the table one process writes, byte for byte in
    content; a run interrupted in the middle stops its workers and leaves nothing."""
    frame = _with_junk(read_learners_frame(generate_learners(rows=4_000, seed=6), origin="t"), 90)
    source = write_learners(frame, tmp_path / "in.parquet")
    placing = load_placement_model(service_model_dir)
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


def test_typed_parquet_batches_skip_python_strings_with_the_loader_s_rules(
    service_model_dir: Path,
) -> None:
    """A Parquet batch of typed columns is read with Arrow (text numbered, never made into
    strings row by row) and answered exactly as through the loader's pandas rules: blanks and
    whitespace (Unicode too) missing, integer and float32 numbers, nulls, repeated text, junk;
    numbers given as text, or infinite, go the loader's way (and its error)."""
    import pyarrow as pa

    frame = _with_junk(read_learners_frame(generate_learners(rows=600, seed=8), origin="t"), 40)
    n = len(frame)
    odd = ["", "   ", "\u00a0", "\x1c x", " Acme  Co ", "\u200b", None]
    company = [odd[i % 7] if i % 5 == 0 else v for i, v in enumerate(frame["company_hash"])]
    title = [odd[i % 7] if i % 6 == 0 else v for i, v in enumerate(frame["job_position"])]
    email = [odd[i % 7] if i % 9 == 0 else v for i, v in enumerate(frame["email_hash"])]
    orgyear = [None if math.isnan(v) else int(v) for v in frame["orgyear"]]
    batch = pa.RecordBatch.from_pydict(
        {
            "company_hash": pa.array(company, pa.string()),
            "email_hash": pa.array(email, pa.large_string()),
            "orgyear": pa.array(orgyear, pa.int64()),
            "ctc": pa.array(frame["ctc"], pa.float64()),
            "job_position": pa.array(title, pa.string()),
            "ctc_updated_year": pa.array(frame["ctc_updated_year"], pa.float32()),
        }
    )
    placing = load_placement_model(service_model_dir)
    chunk = RawChunk(data=batch, origin="t", first_row=10)
    assert assign_module.arrow_columns(batch) is not None
    by_arrow = assign_module._answer(placing, chunk)
    loaded = assign_module.raw_arrays(decode_chunk(chunk))
    assert by_arrow.equals(assign_module.assign_columns(placing, loaded, np.arange(11, n + 11)))
    assert by_arrow.column("error").null_count < n  # the junk is there

    as_text = batch.set_column(2, "orgyear", batch.column(2).cast(pa.string()))
    infinite = batch.set_column(3, "ctc", pa.array([math.inf] * n, pa.float64()))
    assert assign_module.arrow_columns(as_text) is None
    assert assign_module.arrow_columns(infinite) is None
    assert assign_module._answer(placing, RawChunk(as_text, "t", 10)).equals(by_arrow)
