"""``python -m training assign --engine spark``: the same answers, computed on Spark.

The table is read as the Spark training engine reads it (:func:`training.spark.data.read_learners`:
a file, a folder or a glob, CSV or Parquet, the loader's schema and NA rules), every row is
numbered in file order, and the executors run :func:`training.batch.answers.assign_columns`, the
local engine's own code over the runtime kernel, on Arrow batches (``mapInArrow``); the model
(:func:`training.runtime.loader.load_model`) travels to them inside that function. The answers
are written as Parquet (a folder of part files, as Spark writes): for a local ``out`` under a
hidden temporary name renamed when complete, for an object-store path straight to it (Spark's
commit protocol writes ``_SUCCESS`` last).

This module imports pyspark at import time: import it only after
:func:`training.spark.session.check_spark`.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf

from training.batch.answers import assign_columns, raise_gc_threshold
from training.batch.assign import AssignSummary
from training.batch.writing import OutputError
from training.config import TrainingSettings
from training.runtime.loader import VerifiedModel
from training.runtime.schema import NUMERIC_COLUMNS, REQUIRED_COLUMNS
from training.spark.data import _with_row_positions, read_learners
from training.spark.session import check_spark, quiet_pandas_warning, start_session

__all__ = ["OUTPUT_SCHEMA", "assign", "run"]

#: The Spark schema of :data:`training.batch.answers.OUTPUT_COLUMNS`.
OUTPUT_SCHEMA = (
    "row long, email_hash string, segment_id long, segment_name string, "
    "coarse_segment_id long, track string, course string, course_name string, "
    "distance double, relative_margin double, confidence string, "
    "warnings array<string>, model_version string, error string"
)


def run(
    model: VerifiedModel,
    source: str,
    out: Path | str,
    settings: TrainingSettings,
    *,
    spark: SparkSession | None = None,
) -> AssignSummary:
    """Assign a table on Spark: the active session (or ``spark``), else one started for it.

    Parameters
    ----------
    model : VerifiedModel
        The verified model (:func:`training.runtime.loader.load_model`).
    source : str
        A CSV/Parquet file, folder or glob, on any file system Spark reads, or an http(s) URL.
    out : Path or str
        The Parquet folder to write (replaced when complete).
    settings : TrainingSettings
        ``spark_*`` settings for a session started here; ``cache_dir`` for a URL.
    spark : SparkSession, optional
        A session to use and leave running.

    Returns
    -------
    AssignSummary

    Raises
    ------
    OutputError
        ``out`` is the table being read.
    """
    check_spark()
    with quiet_pandas_warning():
        running = spark if spark is not None else SparkSession.getActiveSession()
        session = running if running is not None else start_session(settings)
        try:
            return assign(session, model, source, out, settings)
        finally:
            if running is None:
                session.stop()


def assign(
    spark: SparkSession,
    model: VerifiedModel,
    source: str,
    out: Path | str,
    settings: TrainingSettings,
) -> AssignSummary:
    """The body of :func:`run` on a running session.

    Parameters
    ----------
    spark : SparkSession
        The running session (left running).
    model, source, out, settings
        As for :func:`run`.

    Returns
    -------
    AssignSummary
    """
    started = time.perf_counter()
    raw = read_learners(spark, source, settings)
    answers = answer_frame(_with_row_positions(raw.rows), model)
    target = str(out)
    local = "://" not in target or target.startswith("file://")
    if local:
        final = Path(target.removeprefix("file://"))
        if final.resolve() == Path(source).expanduser().resolve():
            raise OutputError(f"--out {out} is the table being read; write the answers elsewhere.")
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")
        try:
            answers.write.parquet(str(temp))
            _replace(temp, final)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        written = str(final)
    else:
        answers.write.mode("overwrite").parquet(target)
        written = target
    figures = (
        spark.read.parquet(written)
        .agg(sf.count(sf.lit(1)).alias("rows"), sf.count("error").alias("errors"))
        .first()
    )
    assert figures is not None
    rows, errors = int(figures["rows"]), int(figures["errors"])
    return AssignSummary(
        out=Path(written),
        model_version=model.version,
        rows_in=raw.count,
        rows_out=rows,
        placed=rows - errors,
        errors=errors,
        seconds=time.perf_counter() - started,
    )


def answer_frame(rows: DataFrame, model: VerifiedModel) -> DataFrame:
    """The answers of numbered raw rows, computed on the executors.

    Parameters
    ----------
    rows : pyspark.sql.DataFrame
        :data:`training.data.load.REQUIRED_COLUMNS` and ``_row``, the 0-based row number.
    model : VerifiedModel
        The model the executors place with.

    Returns
    -------
    pyspark.sql.DataFrame
        :data:`OUTPUT_SCHEMA`, one row per input row (lazy: nothing runs until it is read).
    """
    return rows.select(*REQUIRED_COLUMNS, "_row").mapInArrow(_answers(model), OUTPUT_SCHEMA)


def _answers(model: VerifiedModel) -> Any:
    """The ``mapInArrow`` function: raw Arrow batches in, answer batches out."""

    def answer(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        raise_gc_threshold()
        for batch in batches:
            columns: dict[str, Any] = {}
            for name in REQUIRED_COLUMNS:
                values = batch.column(name)
                if name in NUMERIC_COLUMNS:
                    columns[name] = values.to_numpy(zero_copy_only=False).astype(np.float64)
                else:
                    columns[name] = np.array(values.to_pylist(), dtype=object)
            rows = batch.column("_row").to_numpy(zero_copy_only=False).astype(np.int64)
            yield from assign_columns(model, columns, rows).to_batches()

    return answer


def _replace(temp: Path, final: Path) -> None:
    """Move the complete folder ``temp`` to ``final``, replacing what was there."""
    if not final.exists() and not final.is_symlink():
        os.rename(temp, final)
        return
    old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
    os.rename(final, old)
    os.rename(temp, final)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)
