"""Reading a table for placing (training.batch.reading): typed Parquet batches through Arrow,
answered exactly as through the loader's pandas rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tests.training.batch.helpers import with_junk
from training.batch import assign as assign_module
from training.batch.answers import assign_columns
from training.batch.reading import arrow_columns, raw_arrays
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
