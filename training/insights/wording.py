"""How figures are written for people: one rule for the report, segment names and actions.

Shares are whole percentages ("67 %"). Pay is quoted in lakh per annum (LPA) with one decimal at
most ("INR 26.2 LPA", "INR 24 LPA"), so the same amount reads the same wherever it appears; the
JSON artifacts keep more digits. Ranks are English ordinals ("58th"). A share of the learners
whose company is known says so, and how many that is ("82 % of the 61 % whose company is known":
:func:`known_text`); a figure counted on few learners says how few (:func:`few_text`).
"""

from __future__ import annotations

import math

__all__ = [
    "LPA",
    "few_text",
    "inr_text",
    "known_text",
    "lift_text",
    "lpa_number",
    "lpa_text",
    "ordinal",
    "pct_text",
    "pct_unbroken",
    "score_text",
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


def score_text(score: float) -> str:
    """An agreement or stability score in [0, 1] (ARI, Jaccard, silhouette) with two decimals:
    every score of the report goes through here, from one stored figure, so it reads the same
    wherever it is quoted."""
    return f"{float(score):.2f}"


def lift_text(lift: float) -> str:
    """A lift (how many times more common than among all learners) with two decimals, the
    one rounding of every lift on the page: ``3.78``."""
    return f"{float(lift):.2f}"


def known_text(share: float, known_share: float, *, unbroken: bool = False) -> str:
    """A share of the learners whose company is known, with how many that is.

    Parameters
    ----------
    share : float
        The share among learners whose company is known, in [0, 1].
    known_share : float
        The share of the group whose company is known, in [0, 1].
    unbroken : bool, default=False
        No-break spaces inside the percentages (running text).

    Returns
    -------
    str
        ``"82 % of the 61 % whose company is known"``; ``"82 % (all companies known)"`` when
        every company is known.
    """
    pct = pct_unbroken if unbroken else pct_text
    if known_share >= 1.0:  # "100 % of the 100 % whose company is known" says it twice
        return f"{pct(share)} (all companies known)"
    return f"{pct(share)} of the {pct(known_share)} whose company is known"


def few_text(learners: int) -> str:
    """The mark of a figure counted on few learners: ``"from only 14 learners"``."""
    return f"from only {learners:,} learner{'s' if learners != 1 else ''}"


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
