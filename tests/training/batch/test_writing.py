"""Writing an assignment table (training.batch.writing): formats by name, CSV's warnings as JSON
text, and all or nothing: an interrupted run leaves no output, and an older one as it was."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from training.batch import answers as answers_module
from training.batch.assign import assign_table
from training.batch.writing import OutputError, OutputFile, WriteBehind, output_format
from training.data.synth import generate_learners, write_learners
from training.runtime.loader import load_model
from training.runtime.placement import place


def test_an_interrupted_run_leaves_no_output(
    service_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the middle: no file at --out, nothing hidden left beside it; an older output
    stays as it was."""
    source = write_learners(generate_learners(rows=5_000, seed=3), tmp_path / "in.parquet")
    placing = load_model(service_model_dir)
    real_place = place
    calls: list[int] = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_place(*args, **kwargs)

    monkeypatch.setattr(answers_module, "place", interrupted)
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


def test_the_format_comes_from_the_name(tmp_path: Path) -> None:
    for name, kind in [
        ("a.parquet", "parquet"),
        ("A.PQ", "parquet"),
        ("a.csv", "csv"),
        ("a.b.csv.gz", "csv.gz"),
    ]:
        assert output_format(tmp_path / name) == kind
    for name in ("a.json", "a.gz", ".csv", "parquet"):
        with pytest.raises(OutputError, match=r"name it \.parquet, \.pq, \.csv or \.csv\.gz\.$"):
            output_format(tmp_path / name)


def test_csv_warnings_are_json_text_and_the_file_appears_on_commit(tmp_path: Path) -> None:
    """In CSV, a placed row's warnings are JSON ([] for none), an error row's are empty; the
    file exists only once committed, written in order through the writing thread."""
    out = tmp_path / "a.csv.gz"
    output = OutputFile(out, output_format(out))
    tables = [
        pa.table({"row": [1, 2], "warnings": pa.array([[], ["a \u00e9"]], pa.list_(pa.string()))}),
        pa.table({"row": [3], "warnings": pa.array([None], pa.list_(pa.string()))}),
    ]
    with WriteBehind(output) as writer:
        for table in tables:
            writer.write(table)
    assert not out.exists()
    output.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv.gz"]
    with gzip.open(out, "rt", encoding="utf-8") as text:
        assert text.read().splitlines() == [
            '"row","warnings"',
            '1,"[]"',
            '2,"[""a \u00e9""]"',
            "3,",
        ]


def test_a_discarded_output_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"
    output = OutputFile(out, "parquet")
    output.write(pa.table({"row": [1]}))
    assert output.temp.exists() and output.temp.name.startswith(".a.parquet.")
    output.discard()
    assert list(tmp_path.iterdir()) == []
