"""How figures are written for people: one rule for the report, segment names and actions.

Shares are whole percentages ("67 %"). Pay is quoted in lakh per annum (LPA) with one decimal at
most ("INR 26.2 LPA", "INR 24 LPA"), so the same amount reads the same wherever it appears; the
JSON artifacts keep more digits.
"""

from __future__ import annotations

#: One lakh per annum, the unit Indian pay is quoted in.
LPA = 100_000.0


def lpa_number(lpa: float) -> str:
    """An amount in LPA as a number: one decimal at most, a trailing ``.0`` dropped."""
    return f"{round(lpa, 1):g}"


def lpa_text(lpa: float) -> str:
    """An amount in LPA as a phrase: ``INR 26.2 LPA``."""
    return f"INR {lpa_number(lpa)} LPA"


def inr_text(inr: float) -> str:
    """An amount in rupees a year as a phrase in LPA (:func:`lpa_text`)."""
    return lpa_text(inr / LPA)


def pct_text(share: float) -> str:
    """A share in [0, 1] as a whole percentage: ``67 %``."""
    return f"{100 * share:.0f} %"
