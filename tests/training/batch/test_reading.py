"""Reading a table for placing (training.batch.reading): typed Parquet batches through Arrow,
answered exactly as through the loader's pandas rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tests.training.batch.helpers import with_junk
from training.batch import assign as assign_module
from training.batch.answers import assign_columns
from training.batch.reading import arrow_columns, learner_ids, raw_arrays
from training.data.load import RawChunk, decode_chunk, read_learners_frame
from training.data.synth import generate_learners
from training.runtime.loader import load_model


def test_typed_parquet_batches_skip_python_strings_with_the_loader_s_rules(
    service_model_dir: Path,
) -> None:
    """A Parquet batch of typed columns is read with Arrow (text numbered, never made into
    strings row by row) and answered exactly as through the loader's pandas rules: blanks and
    whitespace (Unicode too) missing, integer and float32 numbers, nulls, repeated text, junk;
    numbers given as text, or infinite, go the loader's way (and its error)."""
    import pyarrow as pa

    frame = with_junk(read_learners_frame(generate_learners(rows=600, seed=8), origin="t"), 40)
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
    placing = load_model(service_model_dir)
    chunk = RawChunk(data=batch, origin="t", first_row=10)
    assert arrow_columns(batch) is not None
    by_arrow = assign_module._answer(placing, chunk)
    loaded = raw_arrays(decode_chunk(chunk))
    assert by_arrow.equals(assign_columns(placing, loaded, np.arange(10, n + 10)))
    assert by_arrow.column("error").null_count < n  # the junk is there

    as_text = batch.set_column(2, "orgyear", batch.column(2).cast(pa.string()))
    infinite = batch.set_column(3, "ctc", pa.array([math.inf] * n, pa.float64()))
    assert arrow_columns(as_text) is None
    assert arrow_columns(infinite) is None
    assert assign_module._answer(placing, RawChunk(as_text, "t", 10)).equals(by_arrow)


def test_learner_ids_from_parquet_and_csv(tmp_path: Path) -> None:
    """The optional learner_id column, whatever its letter case: text kept verbatim, blanks
    none, integers as text; another type, or two such columns, refused in one sentence."""
    import pandas as pd
    import pytest

    from training.data.load import DataError, open_learner_chunks

    frame = read_learners_frame(generate_learners(rows=100, seed=1), origin="t").head(5)
    given = [" u-1", "", "   ", None, "x" * 200]
    for name, values, want in (
        ("learner_id", given, [" u-1", None, None, None, "x" * 200]),
        (" Learner_ID", [7, 8, None, 10, 11], ["7", "8", None, "10", "11"]),
    ):
        table = frame.assign(**{name: pd.Series(values, dtype=object)})
        for path in (tmp_path / "t.parquet", tmp_path / "t.csv"):
            if path.suffix == ".csv":
                table.to_csv(path, index=False)
            else:
                table.to_parquet(path, index=False)
            opened = open_learner_chunks(path, chunk_rows=3)
            assert opened.learner_id
            got = [learner_ids(c) for c in opened.raw]
            ids = [v for chunk in got if chunk for v in chunk[0].to_pylist()]
            lengths = [n for chunk in got if chunk for n in chunk[1].tolist()]
            assert ids == want, (name, path.suffix)
            assert lengths == [0 if v is None else len(v) for v in want]
    floats = tmp_path / "f.parquet"
    frame.assign(learner_id=[1.5] * 5).to_parquet(floats, index=False)
    with pytest.raises(DataError, match="learner_id column of double values; write it as text"):
        [learner_ids(c) for c in open_learner_chunks(floats, chunk_rows=3).raw]
    twice = tmp_path / "twice.csv"
    frame.assign(learner_id="a", LEARNER_ID="b").to_csv(twice, index=False)
    with pytest.raises(DataError, match="2 columns that read as 'learner_id'"):
        open_learner_chunks(twice, chunk_rows=3)
    plain = tmp_path / "plain.parquet"
    frame.to_parquet(plain, index=False)
    opened = open_learner_chunks(plain, chunk_rows=3)
    assert not opened.learner_id and all(learner_ids(c) is None for c in opened.raw)
