"""assign --explain (training.batch.explain): every what-if column of a chunk equals the scalar
Explainer's answer for the same learner, each change replayed through placement lands in its
segment, and the CLI writes the columns in CSV and Parquet."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.training.batch.helpers import invoke, iter_output, with_junk
from training.batch.explain import REASONS, WHAT_IF_COLUMNS, WhatIfs
from training.batch.reading import raw_arrays
from training.data.load import read_learners_frame
from training.data.synth import generate_learners, write_learners
from training.run import TrainingResult
from training.runtime.loader import VerifiedModel, load_model
from training.runtime.placement import learner_errors, place
from training.runtime.schema import RAW_FIELDS

#: A generator seed no other test uses.
SEED = 2424


@pytest.fixture(scope="module")
def model(trained_small: TrainingResult) -> VerifiedModel:
    return load_model(trained_small.folder)


def _crafted(model: VerifiedModel) -> list[dict[str, Any]]:
    """Learners on the hard paths: a CTC exactly on a pay-band edge with the start year imputed
    from pay, a CTC that is no salary with the start year imputed too (both answered by the
    search), at the top and the bottom of the CTC range, and on every band edge."""
    rules, tables = model.kernel.rules, model.kernel.tables
    edges = sorted({*rules.orgyear_band_edges, *tables.pay_band_edges})
    rows: list[dict[str, Any]] = [
        {"ctc": 15.0, "orgyear": None, "ctc_updated_year": 2020.0},
        {"ctc": 24_000.0, "orgyear": 2030.0, "company_hash": "x"},
        {"ctc": rules.ctc_high, "orgyear": 2015.0, "job_position": "Backend Engineer"},
        {"ctc": rules.ctc_high * 3, "orgyear": 2012.0},
        {"ctc": rules.ctc_min, "orgyear": 2019.0},
    ]
    for edge in edges:
        for orgyear in (None, 2018.0):
            rows.append({"ctc": math.exp(edge), "orgyear": orgyear, "ctc_updated_year": 2019.0})
    return [{**row, "email_hash": f"crafted-{i}"} for i, row in enumerate(rows)]


@pytest.fixture(scope="module")
def frame(model: VerifiedModel) -> pd.DataFrame:
    """2,000 synthetic rows, the crafted learners and a junk row every 500 rows."""
    table = read_learners_frame(generate_learners(rows=2_000, seed=SEED), origin="test")
    crafted = read_learners_frame(
        pd.DataFrame(
            [
                {name: row.get(name) for name in (*RAW_FIELDS, "email_hash")}
                for row in _crafted(model)
            ]
        ),
        origin="crafted",
    )
    return with_junk(pd.concat([crafted, table], ignore_index=True), every=500)


class _Counting(WhatIfs):
    """Counts the rows each path answers (the oracle test must reach the search)."""

    searched = 0

    def _search(self, raw: Any, ctc: Any, centre: Any, rows: np.ndarray, *rest: Any) -> None:
        type(self).searched += rows.size
        super()._search(raw, ctc, centre, rows, *rest)


@pytest.fixture(scope="module")
def columns(model: VerifiedModel, frame: pd.DataFrame) -> dict[str, Any]:
    raw = raw_arrays(frame)
    placed = np.array([e is None for e in learner_errors({n: raw[n] for n in RAW_FIELDS})])
    assert 0 < placed.sum() < len(placed)
    return _Counting.from_model(model).columns(raw, placed)


def _learner(frame: pd.DataFrame, i: int) -> dict[str, Any]:
    row = frame.iloc[i]
    return {name: (None if pd.isna(row[name]) else row[name]) for name in RAW_FIELDS}


def _null(columns: dict[str, Any], prefix: str, i: int) -> bool:
    ids = columns[f"{prefix}_segment_id"][i]
    return bool(ids < 0 and columns[f"{prefix}_segment_name"][i] is None)


def test_every_column_equals_the_explainers_answer(
    model: VerifiedModel, frame: pd.DataFrame, columns: dict[str, Any]
) -> None:
    """Pay within the Explainer's resolution (a rupee), the same destinations, the same tier
    and company, and the same reasons, row by row (the scalar Explainer is the oracle)."""
    explainer = WhatIfs.from_model(model).explainer
    raw = raw_arrays(frame)
    errors = learner_errors({n: raw[n] for n in RAW_FIELDS})
    moves = 0
    for i in range(len(frame)):
        if errors[i] is not None:
            assert all(
                (columns[c][i] is None)
                or (isinstance(columns[c][i], float) and math.isnan(columns[c][i]))
                or columns[c][i] == -1
                for c in WHAT_IF_COLUMNS
            ), i
            continue
        out = explainer.explain(_learner(frame, i))
        before = explainer._see(_learner(frame, i)).ctc
        for entry in out["what_if"]:
            if entry["input"] == "pay":
                side = "pay_up" if entry["direction"] == "more" else "pay_down"
                if entry["request_change"] is None:
                    assert _null(columns, side, i) and math.isnan(columns[f"{side}_ctc"][i]), i
                    at_end = entry["reason"].startswith("the CTC is already")
                    estimate = entry["reason"].startswith("the CTC given is not a yearly")
                    code = "at_limit" if at_end else "none_in_range"
                    assert columns[f"{side}_reason"][i] == ("ctc_imputed" if estimate else code), i
                    continue
                moves += 1
                assert columns[f"{side}_ctc"][i] == pytest.approx(
                    entry["request_change"]["ctc"], abs=1.0
                ), i
                assert columns[f"{side}_segment_id"][i] == entry["segment_id"], i
                assert columns[f"{side}_segment_name"][i] == entry["segment_name"], i
                assert columns[f"{side}_reason"][i] is None
                change = columns[f"{side}_ctc"][i] - before
                assert columns[f"{side}_inr"][i] == round(change)
                assert columns[f"{side}_pct"][i] == pytest.approx(change / before * 100, abs=0.01)
            elif entry["input"] == "company_tier":
                if entry["request_change"] is None:
                    assert _null(columns, "tier", i) and columns["tier_to"][i] == -1, i
                    assert columns["tier_reason"][i] == "none_moves", i
                    continue
                moves += 1
                assert columns["tier_to"][i] == entry["tier"], i
                assert columns["tier_company"][i] == entry["request_change"]["company_hash"], i
                assert columns["tier_segment_id"][i] == entry["segment_id"], i
                assert columns["tier_segment_name"][i] == entry["segment_name"], i
    assert moves > len(frame)  # most learners have a move
    assert set(c for c in columns["pay_up_reason"] if c) <= set(REASONS)


def _segments(
    model: VerifiedModel, raw: dict[str, Any], rows: np.ndarray, **change: Any
) -> np.ndarray:
    columns = {name: raw[name][rows] for name in RAW_FIELDS}
    columns.update(change)
    return model.kernel.segment_ids[place(model.kernel, columns).nearest]


def test_each_change_replayed_through_placement_lands_in_its_segment(
    model: VerifiedModel, frame: pd.DataFrame, columns: dict[str, Any]
) -> None:
    """Every reported change, placed as a request would be, gives the reported segment; the same
    pay change 1 % smaller does not move the learner (exact, not a coarse search)."""
    raw = raw_arrays(frame)
    placed = np.array([e is None for e in learner_errors({n: raw[n] for n in RAW_FIELDS})])
    here = np.full(len(frame), -1)
    here[placed] = _segments(model, raw, np.flatnonzero(placed))
    before = raw["ctc"].copy()
    for side in ("pay_up", "pay_down"):
        rows = np.flatnonzero(columns[f"{side}_segment_id"] >= 0)
        assert rows.size > 100
        ctc = columns[f"{side}_ctc"][rows]
        got = _segments(model, raw, rows, ctc=ctc)
        assert np.array_equal(got, columns[f"{side}_segment_id"][rows])
        assert np.all(got != here[rows])
        # 1 % less of the change: still home (rows whose CTC the cleaning kept as given)
        kept = rows[
            (np.abs(columns[f"{side}_inr"][rows]) > 400) & (before[rows] == raw["ctc"][rows])
        ]
        smaller = before[kept] + 0.99 * (columns[f"{side}_ctc"][kept] - before[kept])
        clean_ctc = model.kernel.featurize({n: raw[n][kept] for n in RAW_FIELDS})[0].ctc
        exact = np.isclose(clean_ctc, before[kept])
        home = _segments(model, raw, kept[exact], ctc=smaller[exact])
        assert np.array_equal(home, here[kept[exact]])
    rows = np.flatnonzero(columns["tier_segment_id"] >= 0)
    assert rows.size > 100
    for company in set(columns["tier_company"][rows]):
        some = rows[columns["tier_company"][rows] == company]
        got = _segments(model, raw, some, company_hash=np.full(some.size, company, dtype=object))
        assert np.array_equal(got, columns["tier_segment_id"][some])


def test_the_tier_set_directly_equals_placing_with_the_tier_company(
    model: VerifiedModel, frame: pd.DataFrame, columns: dict[str, Any]
) -> None:
    """The shortcut (set the tier column when only the tier reads the company) gives what
    placing every row with each tier's company gives."""
    what_ifs = WhatIfs.from_model(model)
    assert what_ifs._tier_only
    what_ifs._tier_only = False
    raw = raw_arrays(frame)
    placed = np.array([e is None for e in learner_errors({n: raw[n] for n in RAW_FIELDS})])
    slow = what_ifs.columns(raw, placed)
    for name in ("tier_to", "tier_company", "tier_segment_id", "tier_segment_name", "tier_reason"):
        assert list(slow[name]) == list(columns[name]), name


def test_a_model_without_the_tier_says_why(model: VerifiedModel) -> None:
    kernel = model.kernel
    keep = [j for j, name in enumerate(kernel.features) if name != "company_tier"]
    without = dataclasses.replace(
        kernel,
        features=tuple(kernel.features[j] for j in keep),
        lower=kernel.lower[keep],
        upper=kernel.upper[keep],
        mean=kernel.mean[keep],
        scale=kernel.scale[keep],
        centers=kernel.centers[:, keep],
    )
    what_ifs = WhatIfs.from_model(dataclasses.replace(model, kernel=without))
    raw = raw_arrays(read_learners_frame(generate_learners(rows=200, seed=SEED), origin="t"))
    out = what_ifs.columns(raw, np.ones(200, bool))
    assert set(out["tier_reason"]) == {"not_an_input"}
    assert np.all(out["tier_to"] == -1)
    assert np.any(out["pay_up_segment_id"] >= 0)


@pytest.mark.parametrize("name", ["answers.csv", "answers.parquet"])
def test_the_cli_writes_the_columns(
    service_model_dir: Path, tmp_path: Path, model: VerifiedModel, name: str
) -> None:
    table = read_learners_frame(generate_learners(rows=1_500, seed=SEED + 1), origin="t")
    source = write_learners(with_junk(table, every=400), tmp_path / "learners.parquet")
    out = tmp_path / name
    result = invoke(
        "assign",
        [
            "--model",
            str(service_model_dir),
            "--data",
            str(source),
            "--out",
            str(out),
            "--explain",
            "--chunk-rows",
            "700",
        ],
    )
    assert result.exit_code == 0, result.output
    # CSV reads an empty text back as "": the same null
    rows = [{k: None if v == "" else v for k, v in row.items()} for row in iter_output(out)]
    assert len(rows) == 1_500 + math.ceil(1_500 / 400)
    assert all(set(WHAT_IF_COLUMNS) <= set(row) for row in rows)
    raw = raw_arrays(read_learners_frame(pd.read_parquet(source), origin="t"))
    placed = np.array([row["error"] is None for row in rows])
    expected = WhatIfs.from_model(model).columns(raw, placed)
    for i, row in enumerate(rows):
        if row["error"] is not None:
            assert all(row[c] is None for c in WHAT_IF_COLUMNS), i
            continue
        assert row["pay_up_segment_id"] == (
            None if expected["pay_up_segment_id"][i] < 0 else expected["pay_up_segment_id"][i]
        )
        assert row["tier_segment_name"] == expected["tier_segment_name"][i]
        assert row["pay_down_reason"] == expected["pay_down_reason"][i]
        if row["pay_up_ctc"] is not None:
            assert row["pay_up_ctc"] == expected["pay_up_ctc"][i]
    assert sum(row["pay_up_ctc"] is not None for row in rows) > 100


def test_explain_is_refused_per_learner(service_model_dir: Path, tmp_path: Path) -> None:
    source = write_learners(generate_learners(rows=100, seed=SEED), tmp_path / "l.parquet")
    result = invoke(
        "assign",
        [
            "--model",
            str(service_model_dir),
            "--data",
            str(source),
            "--out",
            str(tmp_path / "o.csv"),
            "--explain",
            "--per-learner",
        ],
    )
    assert result.exit_code != 0
    assert "--explain runs on the local engine, on rows" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_a_model_reading_pay_flags_is_answered_by_the_explainer(model: VerifiedModel) -> None:
    """A flag (pay above or below the company's peers) steps with the learner's own pay: no
    closed form, so every row's pay move is the Explainer's own answer."""
    kernel = model.kernel
    rng = np.random.default_rng(SEED)
    flagged = dataclasses.replace(
        kernel,
        features=(*kernel.features, "tier_flag"),
        lower=np.append(kernel.lower, 1.0),
        upper=np.append(kernel.upper, 3.0),
        mean=np.append(kernel.mean, 2.0),
        scale=np.append(kernel.scale, 0.8),
        centers=np.column_stack([kernel.centers, rng.normal(size=kernel.k)]),
    )
    what_ifs = WhatIfs.from_model(dataclasses.replace(model, kernel=flagged))
    frame = read_learners_frame(generate_learners(rows=100, seed=SEED + 2), origin="t")
    out = what_ifs.columns(raw_arrays(frame), np.ones(len(frame), bool))
    moves = 0
    for i in range(len(frame)):
        answer = what_ifs.explainer.explain(_learner(frame, i))
        for entry in answer["what_if"]:
            if entry["input"] != "pay":
                continue
            side = "pay_up" if entry["direction"] == "more" else "pay_down"
            if entry["request_change"] is None:
                assert out[f"{side}_segment_id"][i] == -1 and out[f"{side}_reason"][i], i
            else:
                assert out[f"{side}_ctc"][i] == entry["request_change"]["ctc"], i
                assert out[f"{side}_segment_id"][i] == entry["segment_id"], i
                moves += 1
    assert moves > 50


def test_a_cut_of_one_rupee_off_a_pay_band_edge_is_found(model: VerifiedModel) -> None:
    """A CTC exactly on a pay-band edge is in the band above it: when one rupee less already
    places the learner elsewhere, the smallest cut is that rupee, from the Explainer and from
    the batch alike (a 1 % search would step over it and answer that no cut moves them)."""
    rules, tables = model.kernel.rules, model.kernel.tables
    edges = sorted({*rules.orgyear_band_edges, *tables.pay_band_edges})
    learners = [
        {
            "email_hash": f"edge-{i}-{year}-{title}",
            "ctc": float(round(math.exp(edge))),
            "orgyear": None,
            "ctc_updated_year": float(year),
            "job_position": title,
            "company_hash": None,
        }
        for i, edge in enumerate(edges)
        for year in (2016, 2019, 2021)
        for title in (None, "Backend Engineer", "Data Scientist")
    ]
    frame = read_learners_frame(pd.DataFrame(learners), origin="test")
    raw = raw_arrays(frame)
    rows = np.arange(len(frame))
    here = _segments(model, raw, rows)
    below = _segments(model, raw, rows, ctc=raw["ctc"] - 1.0)
    cliff = np.flatnonzero(here != below)
    assert cliff.size > 0, "no learner on an edge where one rupee moves them: test is vacuous"
    what_ifs = WhatIfs.from_model(model)
    placed = np.ones(len(frame), bool)
    columns = what_ifs.columns(raw, placed)
    for i in cliff.tolist():
        cut = next(
            e
            for e in what_ifs.explainer.explain(_learner(frame, i))["what_if"]
            if e["input"] == "pay" and e["direction"] == "less"
        )
        assert cut["request_change"] == {"ctc": raw["ctc"][i] - 1.0}, i
        assert cut["segment_id"] == below[i]
        assert columns["pay_down_ctc"][i] == raw["ctc"][i] - 1.0, i
        assert columns["pay_down_segment_id"][i] == below[i]


class _Searching(_Counting):
    """Every measured stretch reads as not linear: the rows it walks go to the search."""

    def _slopes(self, *args: Any) -> Any:
        slopes, linear = super()._slopes(*args)
        return slopes, np.zeros_like(linear)


def test_the_search_agrees_with_the_explainers_search(
    model: VerifiedModel, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both searches (the Explainer's and the batch's), forced on every learner whose pay moves
    another input through a band: the same answers, the 1 %-steps-then-halving search."""
    from training.runtime.explain import Explainer

    monkeypatch.setattr(Explainer, "_slopes", lambda *args: None)
    raw = raw_arrays(frame)
    placed = np.array([e is None for e in learner_errors({n: raw[n] for n in RAW_FIELDS})])
    _Searching.searched = 0
    searching = _Searching.from_model(model)
    columns = searching.columns(raw, placed)
    assert _Searching.searched > 50
    for i in np.flatnonzero(placed)[:400].tolist():
        for entry in searching.explainer.explain(_learner(frame, i))["what_if"]:
            if entry["input"] != "pay":
                continue
            side = "pay_up" if entry["direction"] == "more" else "pay_down"
            if entry["request_change"] is None:
                assert _null(columns, side, i), i
            else:
                assert columns[f"{side}_ctc"][i] == pytest.approx(
                    entry["request_change"]["ctc"], abs=1.0
                ), i
                assert columns[f"{side}_segment_id"][i] == entry["segment_id"], i


def test_no_pay_change_from_an_estimate_of_a_ctc_never_given(model: VerifiedModel) -> None:
    """A CTC that is no yearly salary is placed with an estimate; a raise or cut "from" that
    estimate would point the wrong way from what was sent: both answers say why instead."""
    learners = [
        {"email_hash": "a", "ctc": 199_000_000.0, "orgyear": 2018.0, "ctc_updated_year": 2021.0},
        {"email_hash": "b", "ctc": 15.0, "orgyear": 2016.0, "ctc_updated_year": 2020.0},
        {"email_hash": "c", "ctc": 900_000.0, "orgyear": 2016.0, "ctc_updated_year": 2020.0},
    ]
    for learner in learners:
        learner |= {"company_hash": None, "job_position": "Backend Engineer"}
    frame = read_learners_frame(pd.DataFrame(learners), origin="test")
    what_ifs = WhatIfs.from_model(model)
    columns = what_ifs.columns(raw_arrays(frame), np.ones(len(frame), bool))
    for i in (0, 1):
        pay = [
            e
            for e in what_ifs.explainer.explain(_learner(frame, i))["what_if"]
            if e["input"] == "pay"
        ]
        assert [e["request_change"] for e in pay] == [None, None]
        assert all("not a yearly salary" in e["reason"] for e in pay)
        for side in ("pay_up", "pay_down"):
            assert columns[f"{side}_reason"][i] == "ctc_imputed"
            assert math.isnan(columns[f"{side}_ctc"][i])
    assert columns["pay_up_reason"][2] != "ctc_imputed"  # a real CTC keeps its answers
