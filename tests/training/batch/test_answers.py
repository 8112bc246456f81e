"""The answer rows of raw learners (training.batch.answers): errors known in advance, the
dictionary-encoded form sent between processes, centre names, and the GC threshold while
placing."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.training.batch.helpers import with_junk
from training.batch.answers import (
    GC_THRESHOLD,
    OUTPUT_COLUMNS,
    assign_columns,
    centre_names,
    count_errors,
    decode_answers,
    few_collections,
)
from training.batch.reading import raw_arrays
from training.data.load import read_learners_frame
from training.data.synth import generate_learners
from training.runtime.loader import load_model


def test_answers_have_the_output_columns_and_decode_to_the_same_table(
    service_model_dir: Path,
) -> None:
    """Rows in = rows out, in order, in OUTPUT_COLUMNS; the encoded form decodes to the decoded
    one; a refused row has its error and nothing else."""
    model = load_model(service_model_dir)
    frame = with_junk(read_learners_frame(generate_learners(rows=200, seed=12), origin="t"), 50)
    columns = raw_arrays(frame)
    rows = np.arange(1, len(frame) + 1)
    answers = assign_columns(model, columns, rows)
    assert tuple(answers.column_names) == OUTPUT_COLUMNS
    assert answers.column("row").to_pylist() == rows.tolist()
    assert count_errors(answers) == 4 == len(frame) - 200
    encoded = assign_columns(model, columns, rows, decoded=False)
    assert pa.types.is_dictionary(encoded.schema.field("segment_name").type)
    assert decode_answers(encoded).equals(answers)
    first = answers.slice(0, 1).to_pylist()[0]
    assert first["error"] == "ctc: Input should be a valid number"
    assert all(first[key] is None for key in ("segment_id", "segment_name", "distance"))
    assert set(answers.column("model_version").drop_null().to_pylist()) == {model.version}


def test_known_errors_are_kept_and_names_follow_the_centres(service_model_dir: Path) -> None:
    model = load_model(service_model_dir)
    frame = read_learners_frame(generate_learners(rows=100, seed=13), origin="t")
    given = ["told so" if i % 3 == 0 else None for i in range(len(frame))]
    answers = assign_columns(model, raw_arrays(frame), np.arange(1, 101), errors=given)
    assert answers.column("error").to_pylist() == given
    names = centre_names(model)
    by_id = dict(zip(model.kernel.segment_ids.tolist(), names, strict=True))
    assert by_id == {i: model.names()[i] for i in model.kernel.segment_ids.tolist()}
    for row in answers.to_pylist():
        if row["error"] is None:
            assert row["segment_name"] == by_id[row["segment_id"]]


def test_few_collections_raises_the_threshold_for_the_block_only() -> None:
    before = gc.get_threshold()
    with pytest.raises(KeyboardInterrupt), few_collections():
        assert gc.get_threshold()[0] == max(GC_THRESHOLD, before[0])
        assert gc.get_threshold()[1:] == before[1:]
        raise KeyboardInterrupt
    assert gc.get_threshold() == before
