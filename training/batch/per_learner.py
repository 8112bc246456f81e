"""``python -m training assign --per-learner``: one answer per learner, collapsed as training does.

The rows of each email are collapsed with the training rules
(:func:`training.prep.cleaning.collapse_learners`: exact duplicates dropped, the latest record
kept, with its record count and CTC growth) before they are placed. So that memory stays bounded
by a partition, not the table, :func:`assign_per_learner` first spreads the rows over hash
partitions of the email on disk (a row without an email by all its fields), then collapses and
places one partition at a time. A learner none of whose rows can be placed gets one row with
the reason. A ``learner_id`` column is echoed from the row kept (the latest record).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training.batch.answers import assign_columns, count_errors
from training.batch.reading import learner_ids, raw_arrays
from training.batch.writing import OutputFile
from training.data.load import LEARNER_ID_COLUMN, LearnerChunks, decode_chunk
from training.progress import RowProgress
from training.runtime.loader import VerifiedModel
from training.runtime.placement import learner_errors
from training.runtime.schema import NUMERIC_COLUMNS, RAW_FIELDS, REQUIRED_COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["assign_per_learner"]

#: The most partitions a table is spread over (each an open Parquet writer while spreading).
_MAX_PARTITIONS = 512


def assign_per_learner(
    table: LearnerChunks, model: VerifiedModel, output: OutputFile, progress: RowProgress | None
) -> tuple[int, int, int]:
    """Spread rows over hash partitions of their email on disk, then collapse and place each.

    Parameters
    ----------
    table : LearnerChunks
        The table, opened by :func:`training.data.load.open_learner_chunks`.
    model : VerifiedModel
        The model placing the learners.
    output : OutputFile
        Where the answers go (the partitions are written in a hidden folder beside its
        temporary file, removed at the end).
    progress : callable, optional
        Called after every chunk spread and every partition placed.

    Returns
    -------
    (rows_in, rows_out, placed) : tuple of 3 int
        Rows read, learners written, learners placed.
    """
    folder = output.temp.with_suffix(".parts")
    folder.mkdir()
    try:
        rows_in, parts = _spread_rows(table, folder, progress)
        rows_out = placed = 0
        for part in parts:
            frame = _read_partition(folder, part)
            answers = _collapse_and_place(frame, model)
            output.write(answers)
            rows_out += answers.num_rows
            placed += answers.num_rows - count_errors(answers)
            if progress is not None:
                progress("placing learners", len(frame), rows_in)
        return rows_in, rows_out, placed
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _spread_rows(
    table: LearnerChunks, folder: Path, progress: RowProgress | None
) -> tuple[int, list[int]]:
    """Write the rows, numbered, into ``folder/<part>.parquet`` by partition of their email."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows_in = 0
    writers: dict[int, Any] = {}
    parts = 0
    numeric = set(NUMERIC_COLUMNS)
    schema = pa.schema(
        [(c, pa.float64() if c in numeric else pa.string()) for c in REQUIRED_COLUMNS]
        + [("row", pa.int64())]
        + ([(LEARNER_ID_COLUMN, pa.string())] if table.learner_id else [])
    )
    for raw in table.raw:
        frame = decode_chunk(raw)
        if not parts:
            parts = _partitions_for(table, max(len(frame), 1))
        frame = frame.assign(row=np.arange(rows_in, rows_in + len(frame)))
        ids = learner_ids(raw)
        if ids is not None:
            frame[LEARNER_ID_COLUMN] = ids[0].to_numpy(zero_copy_only=False)
        rows_in += len(frame)
        keys = _partition_keys(frame, parts)
        for part in np.unique(keys).tolist():
            chunk = pa.Table.from_pandas(frame[keys == part], schema, preserve_index=False)
            writer = writers.get(part)
            if writer is None:
                writer = writers[part] = pq.ParquetWriter(folder / f"{part}.parquet", schema)
            writer.write_table(chunk)
        if progress is not None:
            progress("grouping rows by learner", len(frame), table.rows)
    for writer in writers.values():
        writer.close()
    return rows_in, sorted(writers)


def _read_partition(folder: Path, part: int) -> pd.DataFrame:
    import pyarrow.parquet as pq

    frame: pd.DataFrame = pq.read_table(folder / f"{part}.parquet").to_pandas()
    return frame


def _partitions_for(table: LearnerChunks, chunk_rows: int) -> int:
    if table.rows is not None:
        rows = table.rows
    else:  # CSV: about 100 bytes a row (more when compressed), a guess that only sizes parts
        size = table.path.stat().st_size
        rows = size // 100 * (4 if table.path.suffix.lower() == ".gz" else 1)
    return int(min(_MAX_PARTITIONS, max(1, math.ceil(rows / chunk_rows))))


def _partition_keys(frame: pd.DataFrame, parts: int) -> npt.NDArray[np.int64]:
    """A partition per row: by email, or for a row without one by all its fields."""
    import pandas as pd

    email = frame["email_hash"]
    by_email = pd.util.hash_pandas_object(email.fillna(""), index=False).to_numpy()
    by_row = pd.util.hash_pandas_object(frame[list(REQUIRED_COLUMNS)], index=False).to_numpy()
    hashed = np.where(email.notna().to_numpy(), by_email, by_row)
    keys: npt.NDArray[np.int64] = (hashed % np.uint64(parts)).astype(np.int64)
    return keys


def _collapse_and_place(frame: pd.DataFrame, model: VerifiedModel) -> pa.Table:
    """One partition: drop exact duplicates, collapse each email's placeable rows, place them.

    Training's rules (:func:`training.prep.cleaning.collapse_learners`): the latest record,
    preferring one with a job title, then file order; ``n_records`` and ``ctc_growth`` from the
    learner's records. A learner none of whose rows can be placed gets one row with the error.
    """
    import pandas as pd
    import pyarrow as pa

    from training.prep.cleaning import collapse_learners, learner_ids

    columns = raw_arrays(frame)
    rows = frame["row"].to_numpy(np.int64)
    given = _given_ids(frame)
    errors = learner_errors(columns if given is None else {**columns, LEARNER_ID_COLUMN: given})
    # A row without an email is a learner of its own, and its exact duplicates are that learner
    # too: they are numbered by the first of the identical rows.
    same = frame.groupby(list(REQUIRED_COLUMNS), dropna=False, sort=False).ngroup().to_numpy()
    first = np.zeros(same.max() + 1, np.int64)
    first[same[::-1]] = rows[::-1]
    ids, _ = learner_ids(columns["email_hash"], first[same])
    records = pd.Series(ids).value_counts()
    ok = np.fromiter((e is None for e in errors), dtype=bool, count=len(rows))
    unique = ~frame[list(REQUIRED_COLUMNS)].duplicated().to_numpy()
    usable = np.flatnonzero(ok & unique)
    clean = model.kernel.featurize({c: columns[c][usable] for c in RAW_FIELDS})[0]
    kept = collapse_learners(
        pd.DataFrame(
            {
                "learner_id": ids[usable],
                "ctc": clean.ctc,
                "ctc_updated_year": clean.ctc_updated_year,
                "has_title": pd.notna(pd.Series(clean.job_title)).to_numpy(),
                "order": np.arange(len(usable)),
                "position": usable,
            }
        )
    )
    at = kept["position"].to_numpy(np.int64)
    placed = assign_columns(
        model,
        {c: v[at] for c, v in columns.items()},
        rows[at],
        history={
            "n_records": kept["n_records"].to_numpy(np.float64),
            "ctc_growth": kept["ctc_growth"].to_numpy(np.float64),
        },
        errors=[None] * len(at),
        learner_ids=None if given is None else pa.array(given[at], pa.string()),
    )
    placed = placed.add_column(
        placed.schema.get_field_index("email_hash"),
        "records",
        pa.array(records.reindex(kept["learner_id"]).to_numpy(np.int64)),
    )
    placed_ids = set(kept["learner_id"].tolist())
    failed = _unplaceable(model, (columns, given), rows, ids, records, errors, placed_ids)
    return placed if failed is None else pa.concat_tables([placed, failed])


def _given_ids(frame: pd.DataFrame) -> npt.NDArray[Any] | None:
    """The partition's ``learner_id`` column (None: the table has none)."""
    if LEARNER_ID_COLUMN not in frame.columns:
        return None
    values = frame[LEARNER_ID_COLUMN].to_numpy(dtype=object)
    return np.array([v if isinstance(v, str) else None for v in values], dtype=object)


def _unplaceable(
    model: VerifiedModel,
    given: tuple[dict[str, npt.NDArray[Any]], npt.NDArray[Any] | None],
    rows: npt.NDArray[np.int64],
    ids: npt.NDArray[Any],
    records: pd.Series[int],
    errors: list[str | None],
    placed_ids: set[Any],
) -> pa.Table | None:
    """Learners without a placeable row: their first row, with why none could be placed.

    ``given`` is the partition's raw columns and its ``learner_id`` values (None: none).
    """
    import pyarrow as pa

    columns, ids_given = given

    lost: dict[str, int] = {}
    for i, learner in enumerate(ids.tolist()):
        if learner not in placed_ids and learner not in lost:
            lost[learner] = i
    if not lost:
        return None
    at = np.array(list(lost.values()), np.int64)
    counts = records.reindex(list(lost)).to_numpy(np.int64)
    failed = assign_columns(
        model,
        {c: v[at] for c, v in columns.items()},
        rows[at],
        errors=[
            f"None of the learner's {n} row{'s' if n > 1 else ''} can be placed: {errors[i]}"
            for i, n in zip(at.tolist(), counts.tolist(), strict=True)
        ],
        learner_ids=None if ids_given is None else pa.array(ids_given[at], pa.string()),
    )
    return failed.add_column(
        failed.schema.get_field_index("email_hash"), "records", pa.array(counts)
    )
