"""python -m training assign --per-learner (training.batch.per_learner): one row per learner,
collapsed with training's rules and placed where the model puts the training learner; learners
none of whose rows can be placed get one row with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from tests.training.batch.helpers import FIELDS, invoke, iter_output
from training.batch.assign import assign_table
from training.data.load import read_learners_frame
from training.data.synth import write_learners
from training.prep.features import LearnerData
from training.run import TrainingResult
from training.runtime.loader import load_model


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
    result = invoke(
        "assign",
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
        ],
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pandas()
    assert table["records"].sum() == len(small_raw)  # every input row is accounted for
    placed = table[table["error"].isna()]
    assert len(placed) == len(small_data.learners)
    kernel = load_model(trained_small.folder).kernel
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
    summary = assign_table(source, out, load_model(service_model_dir), per_learner=True)
    assert summary.rows_in == 7 and summary.rows_out == 3 and summary.errors == 1
    table = {r["email_hash"]: r for r in iter_output(out)}
    assert table["a"]["records"] == 3 and table["a"]["row"] == 1  # the latest record (rows from 0)
    assert table["b"]["records"] == 2 and table["b"]["segment_id"] is None
    assert table["b"]["error"] == (
        "None of the learner's 2 rows can be placed: ctc: Input should be a valid number"
    )
    # Two identical rows without an email are one learner (an exact duplicate).
    assert table[None]["records"] == 2 and table[None]["row"] == 5
