"""How figures are written for people: pay with one decimal at most and no trailing ".0", shares
as whole percentages that never split, a share of known companies with how many that is, a
figure of few learners marked, ranks as English ordinals."""

from __future__ import annotations

import pytest

from training.insights.wording import (
    few_text,
    inr_text,
    known_text,
    lpa_number,
    lpa_text,
    ordinal,
    pct_text,
    pct_unbroken,
)


@pytest.mark.parametrize(
    ("lpa", "expected"),
    [(26.18, "26.2"), (24.0, "24"), (17.04, "17"), (9.6, "9.6"), (0.349, "0.3"), (123.45, "123.5")],
)
def test_lpa_has_one_decimal_at_most(lpa: float, expected: str) -> None:
    assert lpa_number(lpa) == expected
    assert lpa_text(lpa) == f"INR {expected} LPA"


def test_rupees_are_quoted_in_lpa() -> None:
    assert inr_text(1_700_000) == "INR 17 LPA"
    assert inr_text(2_618_000) == "INR 26.2 LPA"


def test_shares_are_whole_percentages_that_never_split() -> None:
    assert pct_text(0.6749) == "67 %"
    assert pct_unbroken(0.6749) == "67\u00a0%"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (58.3, "58th"),
        (58.5, "59th"),
        (0, "0th"),
        (100, "100th"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
        (99.6, "100th"),
    ],
)
def test_ordinal(value: float, expected: str) -> None:
    assert ordinal(value) == expected


def test_a_share_of_known_companies_says_how_many_they_are() -> None:
    assert known_text(0.82, 0.61) == "82 % of the 61 % whose company is known"
    assert known_text(0.82, 0.61, unbroken=True) == (
        "82\u00a0% of the 61\u00a0% whose company is known"
    )


def test_few_learners_are_counted() -> None:
    assert few_text(14) == "from only 14 learners"
    assert few_text(1) == "from only 1 learner"
