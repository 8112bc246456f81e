"""The apply half of the cleaning rules (training.runtime.cleaning): normalisation, junk
handling, the warnings' flags, one learner like a batch row. The fit half (learned bounds, dedupe,
one row per learner) is in tests/training/prep/test_cleaning.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.config import TrainingSettings
from training.prep.cleaning import clean_learners
from training.runtime.cleaning import (
    CleaningRules,
    apply_rules,
    fold_title,
    normalize_companies,
    normalize_company,
)
from training.runtime.tracks import Tracks


def _ctc_of(orgyear: int) -> float:
    """The experience peers' median CTC of the test rules: INR 1 lakh more per year worked."""
    return 500_000.0 + (2022 - orgyear) * 100_000.0


def _rules(**overrides: object) -> CleaningRules:
    base: dict[str, object] = {
        "reference_year": 2022,
        "orgyear_min": 1980,
        "ctc_min": 50_000.0,
        "ctc_max": 100_000_000.0,
        "ctc_high": 15_000_000.0,
        "ctc_updated_year_fallback": 2020,
        "title_map": {"backend engineer": "Backend Engineer", "fullstack engineer": "FullStack"},
        "orgyear_band_edges": [13.0, 14.0],
        "orgyear_band_values": [2019.0, 2016.0, 2010.0],
        "orgyear_fallback": 2017.0,
        "ctc_by_orgyear": [_ctc_of(year) for year in range(1980, 2023)],
        "tracks": Tracks().to_dict(),
    }
    base.update(overrides)
    return CleaningRules.from_dict(base)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("xzegojo", "xzegojo"),
        ("Xzegojo!!", "xzegojo"),
        ("  lubgqsvz wyvot  wg ", "lubgqsvz wyvot wg"),
        ("247 xrvm", "247 xrvm"),
        ("2020", None),
        ("0", None),
        ("--", None),
        ("", None),
    ],
)
def test_normalize_company(raw: str, expected: str | None) -> None:
    assert normalize_company(raw) == expected


#: Characters whose lower case is context-dependent or leaves ASCII ('İ' -> 'i̇', Kelvin -> 'k',
#: final sigma), line breaks (the separator of the many-value path), digits, spaces.
TRICKY = st.sampled_from(
    ["\u0130", "\u212a", "\u03a3", "A", "z", "7", " ", "\t", "\n", "\r", "-", "é"]
)


@given(st.lists(st.one_of(st.text(max_size=12), st.text(TRICKY, max_size=12)), max_size=20))
def test_many_companies_normalise_as_one_by_one(values: list[str]) -> None:
    assert normalize_companies(values) == [normalize_company(v) for v in values]
    assert normalize_companies([v for v in values if "\n" not in v]) == [
        normalize_company(v) for v in values if "\n" not in v
    ]


def test_title_variants_fold_together() -> None:
    keys = {
        fold_title(t)
        for t in (
            "FullStack Engineer",
            "Fullstack Engineer",
            "Full Stack  engineer",
            "fullstack-engineer",
        )
    }
    assert keys == {"fullstack engineer"}
    assert fold_title("SDE-2") == fold_title("SDE2") == fold_title("sde 2") == "sde 2"
    assert fold_title("Senior  Software Engineer") == "senior software engineer"


@pytest.mark.parametrize(
    "placeholder", ["Not Available", "NA", "n/a", "-", "None", "  ", "123", "Nil1", "NONE 2", "no1"]
)
def test_title_placeholders_are_missing(placeholder: str) -> None:
    assert fold_title(placeholder) is None


@pytest.mark.parametrize(
    ("title", "track"),
    [
        ("Engineering Intern", "backend"),
        ("Backend Architect", "leadership"),
        ("Engineering Leadership", "leadership"),
        ("Co-founder", "leadership"),
        ("Product Manager", "product"),
        ("Product Designer", "product"),
        ("Data Scientist", "data"),
        ("Research Engineers", "data"),
        ("Devops Engineer", "devops"),
        ("Database Administrator", "devops"),
        ("SDET", "qa"),
        ("QA Engineer", "qa"),
        ("iOS Engineer", "mobile"),
        ("Android Engineer", "mobile"),
        ("Frontend Engineer", "frontend"),
        ("FullStack Engineer", "fullstack"),
        ("Backend Engineer", "backend"),
        ("SDE-1", "backend"),
        ("Support Engineer", "support"),
        ("Non Coder", "support"),
        ("ayS", "other"),
        ("Other", "other"),
        ("Not Available", "unknown"),
    ],
)
def test_track_of_a_title(title: str, track: str) -> None:
    assert Tracks().of(fold_title(title)) == track


def test_apply_rules_handles_each_junk_kind() -> None:
    rules = _rules()
    clean = apply_rules(
        {
            "company_hash": ["Xzegojo!", "2020", None, "abc", "abc", "abc", "abc", "abc"],
            "job_position": [
                "Fullstack  Engineer",
                "Not Available",
                None,
                "Backend Engineer",
                "Weird Data Title",
                "ayS",
                "Backend Engineer",
                "Backend Engineer",
            ],
            "orgyear": [20165, 1, 208, 1900, 2204, 2022, np.nan, 2015],
            "ctc": [2, 1_000, 300_000, 1_000_150_000, 800_000, 1_200_000, 20_000_000, None],
            "ctc_updated_year": [2019, 2019, None, 2021, 2020, 2019, 2030, 2019],
        },
        rules,
    )
    touched = {name: mask.tolist() for name, mask in clean.touched.items()}
    assert touched["orgyear_typo_repaired"] == [1, 0, 0, 0, 0, 0, 0, 0]
    assert touched["orgyear_implausible_imputed"] == [0, 1, 1, 1, 1, 0, 0, 0]
    assert touched["orgyear_after_ctc_update_imputed"] == [0, 0, 0, 0, 0, 1, 0, 0]
    assert touched["orgyear_missing_imputed"] == [0, 0, 0, 0, 0, 0, 1, 0]
    assert touched["ctc_implausible_imputed"] == [1, 1, 0, 1, 0, 0, 0, 0]
    assert touched["ctc_above_bound_lowered"] == [0, 0, 0, 0, 0, 0, 1, 0]
    assert touched["ctc_missing_dropped"] == [0, 0, 0, 0, 0, 0, 0, 1]
    assert touched["ctc_updated_year_imputed"] == [0, 0, 1, 0, 0, 0, 0, 0]
    assert touched["ctc_updated_year_capped"] == [0, 0, 0, 0, 0, 0, 1, 0]
    assert touched["company_missing"] == [0, 1, 1, 0, 0, 0, 0, 0]
    assert touched["company_normalised"] == [1, 0, 0, 0, 0, 0, 0, 0]
    assert touched["job_title_placeholder"] == [0, 1, 0, 0, 0, 0, 0, 0]
    assert touched["job_title_rare_to_track"] == [0, 0, 0, 0, 1, 1, 0, 0]
    assert clean.ctc_imputed.tolist() == touched["ctc_implausible_imputed"]

    # A CTC that cannot be a yearly salary takes the median CTC of its experience peers (same
    # orgyear), not a bound: 2 with orgyear 20165 (read as 2016) takes 2016's median.
    assert clean.orgyear[0] == 2016 and clean.ctc[0] == _ctc_of(2016)
    # Neither orgyear nor CTC usable: the orgyear is the fallback (no pay peers), then the CTC
    # follows it.
    assert clean.orgyear[1] == 2017 and clean.ctc[1] == _ctc_of(2017)
    assert clean.orgyear[3] == 2017 and clean.ctc[3] == _ctc_of(2017)
    # A plausible CTC over the learned bound is lowered to it.
    assert clean.ctc[6] == 15_000_000
    assert clean.ctc_updated_year[2] == 2020 and clean.ctc_updated_year[6] == 2022
    assert clean.valid.tolist() == [True] * 7 + [False]
    # Imputed years come from the pay band and never fall after the CTC was recorded.
    assert clean.orgyear[2] == 2019  # ctc 300,000: lowest band
    assert clean.orgyear[4] == 2016  # ctc 800,000: middle band
    assert clean.orgyear[5] == 2016 and clean.orgyear[5] <= clean.ctc_updated_year[5]
    assert clean.orgyear[6] == 2010  # ctc 20M: top band
    assert np.all((clean.orgyear >= 1980) & (clean.orgyear <= clean.ctc_updated_year))
    assert clean.company.tolist()[:3] == ["xzegojo", None, None]
    assert clean.job_title.tolist()[:6] == [
        "FullStack",
        None,
        None,
        "Backend Engineer",
        "Data & ML",
        "Other",
    ]
    assert clean.track.tolist()[1:3] == ["unknown", "unknown"]


def test_apply_rules_single_learner_equals_batch_row() -> None:
    rules = _rules()
    batch: dict[str, list[object]] = {
        "company_hash": ["abc", "Xyz "],
        "job_position": ["Backend Engineer", "SDE 2"],
        "orgyear": [2015.0, 3.0],
        "ctc": [900_000.0, 12.0],
        "ctc_updated_year": [2020.0, 2021.0],
    }
    both = apply_rules(batch, rules)
    one = apply_rules({k: [v[1]] for k, v in batch.items()}, rules)
    assert one.orgyear[0] == both.orgyear[1] and one.ctc[0] == both.ctc[1]
    assert one.company[0] == both.company[1] and one.job_title[0] == both.job_title[1]
    assert {k: bool(v[0]) for k, v in one.touched.items()} == {
        k: bool(v[1]) for k, v in both.touched.items()
    }


def test_rules_round_trip_through_json(small_raw: pd.DataFrame, settings: TrainingSettings) -> None:
    rules = clean_learners(small_raw, settings).rules
    again = CleaningRules.from_dict(json.loads(json.dumps(rules.to_dict())))
    assert again == rules


def test_every_junk_value_of_the_real_rows_is_caught(real_raw: pd.DataFrame) -> None:
    settings = TrainingSettings()
    raw = real_raw.drop_duplicates(ignore_index=True)
    rules = clean_learners(raw, settings).rules
    clean = apply_rules(
        {c: raw[c].to_numpy() for c in ("company_hash", "job_position")}
        | {c: raw[c].to_numpy(np.float64) for c in ("orgyear", "ctc", "ctc_updated_year")},
        rules,
    )
    touched = clean.touched
    org = raw["orgyear"].to_numpy()
    junk_year = (org < 1980) | (org > 2022)
    assert junk_year.sum() >= 25  # 1, 2, 3, 5, 6, 38, 83, 200, 201, 206, 208, 209, 1900, 197x
    assert np.array_equal(touched["orgyear_implausible_imputed"], junk_year)
    after = ~junk_year & (org > raw["ctc_updated_year"].to_numpy())
    assert after.sum() >= 2  # e.g. orgyear 2022 recorded with ctc_updated_year 2019
    assert np.array_equal(touched["orgyear_after_ctc_update_imputed"], after)
    ctc = raw["ctc"].to_numpy(np.float64)
    assert (ctc < 50_000).sum() == 3  # 1,000, 12,600 and 24,000: not a yearly salary
    assert np.array_equal(touched["ctc_implausible_imputed"], ctc < 50_000)
    # ... imputed from experience peers: the training median CTC of their orgyear.
    imputed = touched["ctc_implausible_imputed"]
    expected = [rules.ctc_by_orgyear[int(y) - rules.orgyear_min] for y in clean.orgyear[imputed]]
    assert clean.ctc[imputed].tolist() == expected
    assert (clean.ctc[imputed] >= 50_000).all()
    assert touched["company_missing"][(raw["company_hash"] == "2020").to_numpy()].all()
    assert (
        touched["job_title_placeholder"].sum() == (raw["job_position"] == "Not Available").sum() > 0
    )
    no_title = raw["job_position"].isna().to_numpy()
    assert no_title.sum() > 30 and (clean.track[no_title] == "unknown").all()
    # Nothing implausible survives.
    assert (clean.orgyear >= 1980).all() and (clean.orgyear <= clean.ctc_updated_year).all()
    assert (clean.ctc >= rules.ctc_min).all() and (clean.ctc <= rules.ctc_high).all()
    result = clean_learners(raw, settings)
    truncated = raw["email_hash"].str.endswith("...").sum()
    assert result.report.counts()["email_hash_malformed"] == truncated > 50
