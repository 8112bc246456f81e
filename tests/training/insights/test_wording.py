"""How pay is written for people: one decimal at most, no trailing ".0"."""

from __future__ import annotations

import pytest

from training.insights.wording import inr_text, lpa_number, lpa_text


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
