"""What the tests of training.batch share: junk rows the service refuses, the CLI, an output
table read back, and a model folder whose drift reference describes other features."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from tests.helpers import copy_models
from training.__main__ import app
from training.batch.writing import output_format
from training.data.load import read_learners_frame
from training.runtime.artifacts import DRIFT_JSON, LATEST_FILE, MANIFEST_FILE
from training.store.staging import finalize_manifest

__all__ = [
    "FIELDS",
    "JUNK_ROWS",
    "invoke",
    "iter_output",
    "model_with_foreign_drift",
    "with_junk",
]

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


def with_junk(frame: pd.DataFrame, every: int) -> pd.DataFrame:
    """`frame` with a junk row inserted before every `every`-th row (all junk rows, cycling)."""
    junk = read_learners_frame(
        pd.DataFrame([{name: row.get(name) for name in FIELDS} for row in JUNK_ROWS]),
        origin="junk",
    )
    parts = []
    for i, start in enumerate(range(0, len(frame), every)):
        parts += [junk.iloc[[i % len(junk)]], frame.iloc[start : start + every]]
    return pd.concat(parts, ignore_index=True)


def invoke(command: str, args: list[str]) -> Any:
    """``python -m training <command> <args>`` in process; never a traceback."""
    result = runner.invoke(app, [command, *args])
    assert "Traceback" not in result.output
    return result


def iter_output(out: Path) -> Iterator[dict[str, Any]]:
    """The rows of an assignment table (Parquet or CSV), as dicts."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pq.read_table(out) if output_format(out) == "parquet" else pacsv.read_csv(out)
    yield from table.to_pylist()


def model_with_foreign_drift(models: Path, target: Path) -> Path:
    """A sealed copy of the models folder `models` whose latest model's drift.json describes
    other features than its segmenter.json (one renamed); the version folder is returned."""
    copy = copy_models(models, target)
    folder = copy / (copy / LATEST_FILE).read_text(encoding="utf-8").strip()
    drift = json.loads((folder / DRIFT_JSON).read_text(encoding="utf-8"))
    drift["features"][0]["feature"] = "shoe_size"
    (folder / DRIFT_JSON).write_text(json.dumps(drift), encoding="utf-8")
    finalize_manifest(folder, json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    return folder
