"""How figures are written for people: one rule for the report, segment names and actions.

Shares are whole percentages ("67 %"). Pay is quoted in lakh per annum (LPA) with one decimal at
most ("INR 26.2 LPA", "INR 24 LPA"), so the same amount reads the same wherever it appears; the
JSON artifacts keep more digits. Ranks are English ordinals ("58th").
"""

from __future__ import annotations

import math

__all__ = [
    "LPA",
    "inr_text",
    "lpa_number",
    "lpa_text",
    "ordinal",
    "pct_text",
    "pct_unbroken",
]

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


def pct_unbroken(share: float) -> str:
    """:func:`pct_text` with a no-break space, for running text: ``13 %`` never splits."""
    return pct_text(share).replace(" ", "\u00a0")


def ordinal(value: float) -> str:
    """A number rounded to a whole one, as an English ordinal: 1st, 2nd, 3rd, 11th, 58th.

    Parameters
    ----------
    value : float
        A rank or percentile; halves round up (58.5 -> "59th").

    Returns
    -------
    str
    """
    n = math.floor(float(value) + 0.5)
    teens = n % 100 in (11, 12, 13)  # 11th, 12th, 13th, 111th, ...
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
