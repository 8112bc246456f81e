"""Why a learner is in their segment, the smallest change that moves them, where their career leads.

K-Means cells are bounded by hyperplanes in the scaled space: along one input, with the others
held, the squared-distance gap between the learner's centre and any other centre is linear, so
the first boundary crossed is found exactly. :class:`Explainer` answers, for one raw learner:

* ``why``: for each clustering input, the learner's value, its segment centre's and the
  runner-up's, in business units, and the input's share of the squared-distance gap between the
  two centres (the shares sum to 1);
* ``what_if``: for each input a learner can change, the smallest change that places them in
  another segment, that segment, its course for the learner's track, the change in words, and
  ``request_change``: the fields of the ``/segment`` body that, set to these values, place the
  learner there:

  - **pay** (up and down, within the plausible CTC range the cleaning rules keep): exact along
    the inputs pay moves (log CTC, pay against peers), clipping applied as in placement, to the
    rupee; checked by placing the request, and found by a search to the rupee where pay also
    moves another input (an orgyear imputed from pay peers);
  - **company tier**, as moving to a company of another tier (the training company with the
    most learners in that tier stands for it); a learner without a known company is counted at
    the population's pay level, and the change says so rather than naming a tier of theirs;
  - **experience**, as years passing at the same CTC (an earlier ``orgyear``), to the year;
  - the **track** is not an input of the model: another job title changes the course, not the
    segment, and the entry says so;

  an entry whose move exists nowhere in the allowed range is ``null`` with the reason;
* ``path``: the segment after 1, 2, 3 and 5 more years at the same pay relative to experience
  peers (every input but the years held).

Numpy and the standard library only, like the rest of the runtime: the service, ``assign
--explain`` and Spark executors run the same code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from training.runtime.cleaning import apply_rules, fold_title
from training.runtime.courses import EXPERIENCE, CohortCourses
from training.runtime.features import clean_columns, compute_features
from training.runtime.kernel import Kernel
from training.runtime.ops import ARRAY, SCALAR

__all__ = [
    "EXPERIENCE_LIMIT",
    "INPUT_WORDS",
    "ON_EDGE",
    "ORGYEAR_FROM_PAY",
    "PATH_YEARS",
    "PAY_PROBE",
    "TITLE_INPUTS",
    "Explainer",
    "first_crossing",
    "first_crossings",
    "path_centres",
    "pay_words",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: The years of the career path.
PATH_YEARS: tuple[int, ...] = (1, 2, 3, 5)
#: The most years "years passing" looks ahead.
EXPERIENCE_LIMIT = 40
#: Each clustering input in words, and the unit its value is given in.
INPUT_WORDS: dict[str, tuple[str, str]] = {
    "years_experience": ("Years of experience", "years"),
    "log_ctc": ("Pay (CTC)", "INR LPA"),
    "pay_vs_experience": ("Pay against peers with the same experience", "% above (-: below)"),
    "pay_vs_company": ("Pay against the same company", "% above (-: below)"),
    "pay_vs_title": ("Pay against the same title", "% above (-: below)"),
    "pay_vs_peers": ("Pay against the same company and title", "% above (-: below)"),
    "company_tier": ("Company tier", "tier (1 = best-paying)"),
    "job_class": ("Job title class", "class (1 = best-paid)"),
    "log_company_size": ("Company size", "learners"),
    "n_records": ("Records in the table", "records"),
    "ctc_growth": ("Yearly pay growth", "% a year"),
}
_RELATIVE = ("pay_vs_experience", "pay_vs_company", "pay_vs_title", "pay_vs_peers")
#: The step of the pay search where the walk cannot be solved exactly (1 %, in log CTC).
PAY_PROBE = math.log(1.01)
#: How close (in log CTC) a CTC is to a pay-band edge to count as on it (float rounding).
ON_EDGE = 1e-12


def _business(name: str, value: float) -> float:
    """A feature's value in the unit of :data:`INPUT_WORDS` (a log ratio as a percentage)."""
    if name in _RELATIVE or name == "ctc_growth":
        return round((math.exp(value) - 1.0) * 100.0, 1)
    if name == "log_ctc":
        return round(math.exp(value) / 100_000.0, 2)
    if name == "log_company_size":
        return round(math.expm1(value), 0)
    return round(value, 2)


def _lpa(amount: float) -> str:
    lpa = abs(amount) / 100_000.0
    if lpa >= 0.1:
        return f"INR {lpa:.1f}".rstrip("0").rstrip(".") + " LPA"
    return f"INR {abs(amount):,.0f}"


def pay_words(before: float, after: float) -> str:
    """A pay change in words: ``"INR 4.2 LPA more (+35 %)"``."""
    change = after - before
    side = "more" if change >= 0 else "less"
    return f"{_lpa(change)} {side} ({change / before * 100.0:+.0f} %)".replace("+-", "-")


#: The inputs that read a title's median, imputed from pay peers when the title is not known.
TITLE_INPUTS = frozenset(
    {"job_class", "pay_vs_title", "class_flag", "pay_vs_peers", "designation_flag"}
)
#: The cleaning rules that impute the start year from pay peers.
ORGYEAR_FROM_PAY = (
    "orgyear_missing_imputed",
    "orgyear_implausible_imputed",
    "orgyear_after_ctc_update_imputed",
)


@dataclass(frozen=True)
class _Learner:
    """One raw learner as the model sees it."""

    raw: dict[str, Any]
    ctc: float  # cleaned
    orgyear: float  # cleaned
    pay_steps: bool  # pay moves another input by steps (a start year or title median from pay)
    x: list[float]  # the model's features, in order
    centre: int  # nearest centre (index)
    runner: int  # runner-up (-1 with one centre)
    track: str
    years: float  # own years of experience (its career stage picks the course)
    ctc_imputed: bool = False  # the CTC given is no yearly salary: placement used an estimate
    company_known: bool = True  # False: missing or unknown, placed at the population's pay level


@dataclass(frozen=True)
class Explainer:
    """Explanations and what-ifs for one model (build once per loaded model).

    Parameters
    ----------
    kernel : Kernel
        The model.
    cohorts : CohortCourses
        Its course of every segment x track.
    names : mapping of int to str
        Segment id -> name.
    """

    kernel: Kernel
    cohorts: CohortCourses
    names: Mapping[int, str]
    _tiers: dict[int, str] = field(init=False, repr=False)
    _lists: tuple[list[float], list[float], list[float], list[float], list[list[float]]] = field(
        init=False, repr=False
    )
    _units: list[list[float]] = field(init=False, repr=False)
    _words: list[tuple[str, str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Per-model work, once: the company standing for each tier, the model as Python floats
        # (a learner's few numbers cost less as floats than as numpy calls), every centre in
        # business units, every input in words.
        k = self.kernel
        lists = (k.lower.tolist(), k.upper.tolist(), k.mean.tolist(), k.scale.tolist())
        centres = k.centers.tolist()
        units = [
            [_business(name, c[j] * lists[3][j] + lists[2][j]) for j, name in enumerate(k.features)]
            for c in centres
        ]
        words = [
            (name, *INPUT_WORDS.get(name, (name.replace("_", " "), ""))) for name in k.features
        ]
        object.__setattr__(self, "_tiers", self._tier_companies())
        object.__setattr__(self, "_lists", (*lists, centres))
        object.__setattr__(self, "_units", units)
        object.__setattr__(self, "_words", words)

    @property
    def tier_companies(self) -> dict[int, str]:
        """Each company tier -> the training company that stands for it in the tier what-if."""
        return dict(self._tiers)

    # ------------------------------------------------------------------------- one learner
    def explain(self, learner: Mapping[str, Any]) -> dict[str, Any]:
        """``why``, ``what_if``, ``path`` and ``resolution`` of one raw learner (JSON values).

        Raises
        ------
        ValueError
            If the learner has no usable ``ctc`` (as placement).
        """
        seen = self._see(learner)
        return {
            "why": self._why(seen),
            "what_if": [
                self._pay_move(seen, +1),
                self._pay_move(seen, -1),
                self._tier_move(seen),
                self._years_move(seen),
                self._track_note(),
            ],
            "path": self._path(seen),
            "resolution": {
                "pay": "INR 1: the cell boundary along pay, exact, then checked by placing",
                "company_tier": "one tier",
                "experience": "one year",
            },
        }

    # ---------------------------------------------------------------------------- placing
    def _features(self, raw: Mapping[str, Any]) -> tuple[Any, list[float]]:
        clean = apply_rules({**raw, "ctc": raw.get("ctc")}, self.kernel.rules, SCALAR)
        if not clean.valid:
            raise ValueError("ctc must be a positive number for a learner to be placed.")
        values = compute_features(
            clean_columns(clean), self.kernel.tables, SCALAR, self.kernel.features
        )
        return clean, [float(values[name]) for name in self.kernel.features]

    def _centre_of(self, raw: Mapping[str, Any]) -> int:
        return self.kernel.nearest_one(self._features(raw)[1])[0]

    def _see(self, learner: Mapping[str, Any]) -> _Learner:
        raw = {
            key: learner.get(key)
            for key in ("company_hash", "orgyear", "ctc", "job_position", "ctc_updated_year")
        }
        clean, x = self._features(raw)
        years = self._years(clean, x)
        best, _, second, _ = self.kernel.nearest_one(x)
        title = raw.get("job_position")
        key = fold_title(title) if isinstance(title, str) else None
        track = self.kernel.rules.tracks.of(key)
        steps = any(bool(clean.touched[rule]) for rule in ORGYEAR_FROM_PAY) or (
            bool(TITLE_INPUTS & set(self.kernel.features))
            and self.kernel.rules.title_map.get(key or "") not in self.kernel.tables.title_median
        )
        imputed = bool(clean.touched["ctc_implausible_imputed"])
        company = clean_columns(clean)["company"]
        known = isinstance(company, str) and company in self.kernel.tables.company_median
        return _Learner(
            raw,
            float(clean.ctc),
            float(clean.orgyear),
            steps,
            x,
            best,
            second,
            track,
            years,
            ctc_imputed=imputed,
            company_known=known,
        )

    def _years(self, clean: Any, x: list[float]) -> float:
        """A learner's own years of experience: the clustering input when the model has it,
        else computed from the cleaned values as that input is."""
        if EXPERIENCE in self.kernel.features:
            return x[self.kernel.features.index(EXPERIENCE)]
        values = compute_features(clean_columns(clean), self.kernel.tables, SCALAR, (EXPERIENCE,))
        return float(values[EXPERIENCE])

    def _segment(self, centre: int, track: str, years: float) -> dict[str, Any]:
        """The segment of a centre and the course of a learner of ``track`` with ``years`` of
        experience there (the course follows the learner's own career stage)."""
        segment = int(self.kernel.segment_ids[centre])
        course = self.cohorts.course_of(segment, track, years)
        return {
            "segment_id": segment,
            "segment_name": self.names.get(segment, str(segment)),
            "course": course,
            "course_name": self.cohorts.names.get(course, course),
        }

    # -------------------------------------------------------------------------------- why
    def _why(self, seen: _Learner) -> list[dict[str, Any]]:
        lower, upper, mean, scale, centres = self._lists
        z = [
            (min(max(v, lo), hi) - m) / sc
            for v, lo, hi, m, sc in zip(seen.x, lower, upper, mean, scale, strict=True)
        ]
        own = centres[seen.centre]
        shares = [0.0] * len(z)
        if seen.runner >= 0:
            other = centres[seen.runner]
            parts = [
                (zj - oj) ** 2 - (zj - cj) ** 2 for zj, cj, oj in zip(z, own, other, strict=True)
            ]
            gap = sum(parts)
            shares = [p / gap if gap > 0 else 0.0 for p in parts]
        segment = self._units[seen.centre]
        runner = self._units[seen.runner] if seen.runner >= 0 else None
        return [
            {
                "input": name,
                "label": label,
                "unit": unit,
                "value": _business(name, seen.x[j]),
                "segment": segment[j],
                "runner_up": None if runner is None else runner[j],
                "share_of_gap": round(shares[j], 4),
            }
            for j, (name, label, unit) in enumerate(self._words)
        ]

    # -------------------------------------------------------------------------------- pay
    def _pay_move(self, seen: _Learner, direction: int) -> dict[str, Any]:
        rules = self.kernel.rules
        limit = rules.ctc_high if direction > 0 else rules.ctc_min
        entry: dict[str, Any] = {"input": "pay", "direction": "more" if direction > 0 else "less"}
        if seen.ctc_imputed:  # a change "from" a figure the learner never gave says nothing
            return {
                **entry,
                **_none(
                    f"the CTC given is not a yearly salary (placed with an estimate of "
                    f"{_lpa(seen.ctc)}): send the learner's real CTC to see a pay change"
                ),
            }
        if (limit - seen.ctc) * direction <= 0:
            return {
                **entry,
                **_none(
                    f"the CTC is already at the model's {'upper' if direction > 0 else 'lower'} end"
                ),
            }
        found = self._pay_walk(seen, direction, limit)
        if found is None:
            side = "no raise up to" if direction > 0 else "no cut down to"
            return {
                **entry,
                **_none(
                    f"{side} {_lpa(limit)} a year (the CTC range the model keeps) moves the learner"
                ),
            }
        ctc, centre = found
        return {
            **entry,
            **self._segment(centre, seen.track, seen.years),
            "change": pay_words(seen.ctc, ctc),
            "amount": round(ctc - seen.ctc, 0),
            "relative": round((ctc - seen.ctc) / seen.ctc, 4),
            "request_change": {"ctc": ctc},
            "reason": None,
        }

    def _pay_walk(self, seen: _Learner, direction: int, limit: float) -> tuple[float, int] | None:
        """The first whole-rupee CTC towards ``limit`` that places the learner elsewhere.

        Pay moves the inputs that compare it (log CTC, pay against peers) one for one in log CTC,
        and moves others only by steps where the CTC crosses a pay band of the cleaning rules
        and the peer tables (an orgyear, a title's or a company's median imputed from pay peers).
        Between those edges the move is linear, so each stretch is solved exactly
        (:func:`first_crossing`); at an edge the learner is placed again.
        """
        rules, tables = self.kernel.rules, self.kernel.tables
        here, end = math.log(seen.ctc), math.log(limit)
        edges = {e for e in (*rules.orgyear_band_edges, *tables.pay_band_edges)}
        if not seen.pay_steps:  # nothing reads pay through a band: one linear stretch
            edges = set()
        # The edges between here and the end. A CTC exactly on an edge (round CTCs often are)
        # is in the band above it, so a cut crosses that edge at the first rupee down: walking
        # down, the edge at here counts (an empty first stretch, then the probe one rupee
        # inside the lower band); walking up, it does not. ``assign --explain`` mirrors this.
        if direction > 0:
            inside = sorted(e for e in edges if here + ON_EDGE < e < end)
        else:
            inside = sorted((e for e in edges if end < e <= here + ON_EDGE), reverse=True)
        start, x, crossed = here, np.asarray(seen.x), False
        for stop in [*inside, end]:
            if crossed:  # past a band edge: a step may have moved the learner
                ctc = math.exp(start) + direction  # one rupee inside the new band
                clean_x = self._features({**seen.raw, "ctc": ctc})[1]
                centre = self.kernel.nearest_one(clean_x)[0]
                if centre != seen.centre:
                    return self._settle(seen, direction, math.exp(start), limit)
                x = np.asarray(clean_x)
                start = math.log(ctc)
            if (stop - start) * direction > 0:
                slopes = self._slopes(seen, start, stop, x)
                if slopes is None:
                    return self._pay_search(seen, direction, limit)
                # a lone stretch runs to the end of the CTC range, past the clip bounds: the
                # shortcut would not apply (it pays off between band edges)
                if not (inside and self._stays(seen, x, slopes, stop - start)):
                    crossing = first_crossing(self.kernel, x, slopes, seen.centre, stop - start)
                    if crossing is not None:
                        return self._settle(seen, direction, math.exp(start + crossing[0]), limit)
            start, crossed = stop, True
        return None

    def _stays(self, seen: _Learner, x: FloatArray, slopes: FloatArray, span: float) -> bool:
        """Whether the whole stretch ``x + t * slopes`` (``t`` from 0 to ``span``) is surely in
        the learner's cell: no moving input crosses a clip bound, so every distance gap is
        linear in ``t``, and the learner is nearest its centre at both ends (a cheap test
        before :func:`first_crossing`; False means "look closer")."""
        k = self.kernel
        end = x + span * slopes
        for j in np.flatnonzero(slopes).tolist():
            for bound in (k.lower[j], k.upper[j]):
                if (x[j] - bound) * (end[j] - bound) <= 0:
                    return False
        return k.nearest_one(end.tolist())[0] == seen.centre

    def _slopes(
        self, seen: _Learner, start: float, stop: float, x: FloatArray
    ) -> FloatArray | None:
        """How each input moves with log CTC between two band edges: 1 or 0 (None: otherwise)."""
        step = (stop - start) / 2.0
        moved = self._features({**seen.raw, "ctc": math.exp(start + step)})[1]
        slopes = [(m - v) / step for m, v in zip(moved, x.tolist(), strict=True)]
        if all(abs(s) < 1e-6 or abs(s - 1.0) < 1e-6 for s in slopes):
            return np.asarray([float(round(s)) for s in slopes])
        return None

    def _settle(
        self, seen: _Learner, direction: int, ctc: float, limit: float
    ) -> tuple[float, int] | None:
        """The whole-rupee CTC at or just past ``ctc`` that places the learner elsewhere, checked
        by placing it, inside the range; a search when placing disagrees with the maths."""
        amount = math.ceil(ctc) if direction > 0 else math.floor(ctc)
        for _ in range(4):
            if (amount - limit) * direction > 0:
                return None
            centre = self._centre_of({**seen.raw, "ctc": float(amount)})
            if centre != seen.centre:
                return float(amount), centre
            amount += direction
        return self._pay_search(seen, direction, limit)

    def _pay_search(self, seen: _Learner, direction: int, limit: float) -> tuple[float, int] | None:
        """The search behind the exact walk (should it ever disagree with placing): the first
        1 % step that places the learner elsewhere, then halved down to the rupee."""
        inside = seen.ctc
        steps = int(abs(math.log(limit / seen.ctc)) / PAY_PROBE) + 1
        for i in range(1, steps + 1):
            ctc = seen.ctc * math.exp(PAY_PROBE * direction * i)
            ctc = min(ctc, limit) if direction > 0 else max(ctc, limit)
            centre = self._centre_of({**seen.raw, "ctc": ctc})
            if centre != seen.centre:
                outside = ctc
                while abs(outside - inside) > 1.0:
                    middle = (inside + outside) / 2.0
                    if self._centre_of({**seen.raw, "ctc": middle}) != seen.centre:
                        outside = middle
                    else:
                        inside = middle
                amount = math.ceil(outside) if direction > 0 else math.floor(outside)
                return float(amount), self._centre_of({**seen.raw, "ctc": float(amount)})
            inside = ctc
        return None

    # ----------------------------------------------------------------------- company tier
    def _tier_companies(self) -> dict[int, str]:
        """Each company tier -> the training company of that tier with the most learners."""
        tables = self.kernel.tables
        companies = sorted(tables.company_median)
        if not companies:
            return {}
        n = len(companies)
        columns = {
            "company": np.array(companies, dtype=object),
            "job_title": np.full(n, None, dtype=object),
            "track": np.full(n, "unknown", dtype=object),
            "orgyear": np.full(n, float(tables.reference_year - 5)),
            "ctc": np.full(n, 1_000_000.0),
        }
        tiers = compute_features(columns, tables, ARRAY, ("company_tier",))["company_tier"]
        best: dict[int, str] = {}
        for company, tier in sorted(
            zip(companies, np.asarray(tiers).tolist(), strict=True),
            key=lambda c: (-tables.company_size.get(c[0], 0), c[0]),
        ):
            best.setdefault(int(tier), company)
        return best

    def _tier_move(self, seen: _Learner) -> dict[str, Any]:
        entry: dict[str, Any] = {"input": "company_tier", "direction": None}
        if "company_tier" not in self.kernel.features:
            return {**entry, **_none("the company tier is not an input of this model")}
        current = round(seen.x[self.kernel.features.index("company_tier")])
        order = sorted(
            (t for t in self._tiers if t != current), key=lambda t: (abs(t - current), t)
        )
        for tier in order:
            company = self._tiers[tier]
            centre = self._centre_of({**seen.raw, "company_hash": company})
            if centre != seen.centre:
                better = "better-paying" if tier < current else "lower-paying"
                return {
                    **entry,
                    **self._segment(centre, seen.track, seen.years),
                    "direction": better,
                    "change": self._tier_words(tier, current, seen.company_known),
                    "tier": tier,
                    "request_change": {"company_hash": company},
                    "reason": None,
                }
        return {
            **entry,
            **_none(f"no company of another tier moves the learner (now tier {current})"),
        }

    def _tier_words(self, tier: int, current: int, known: bool) -> str:
        """The tier move in words. A learner without a known company has no tier of their own
        (the model counts them at the population's pay level): "instead of tier 2" would read
        as a fact about their employer."""
        if known:
            better = "better-paying" if tier < current else "lower-paying"
            return f"at a tier-{tier} ({better}) company instead of tier {current}"
        return (
            f"at a {_tier_name(tier, self._lowest_tier())} (tier-{tier}) company (your company "
            f"is unknown to the model, counted as {_tier_name(current, self._lowest_tier())})"
        )

    def _lowest_tier(self) -> int:
        return len(self.kernel.tables.tier_edges) + 1

    # ------------------------------------------------------------------------- experience
    def _years_move(self, seen: _Learner) -> dict[str, Any]:
        entry: dict[str, Any] = {"input": "experience", "direction": "more"}
        rules = self.kernel.rules
        most = int(min(EXPERIENCE_LIMIT, seen.orgyear - rules.orgyear_min))
        if most < 1:
            return {**entry, **_none("the start year is already the earliest the model keeps")}
        clean = apply_rules(seen.raw, self.kernel.rules, SCALAR)
        first = self._years_first(seen, clean, most)
        if first is None:
            return {**entry, **_none(f"{most} more years at the same CTC do not move the learner")}
        n, centre = first
        return {
            **entry,
            **self._segment(centre, seen.track, seen.years + n),
            "change": f"{n} more year{'s' if n > 1 else ''} of experience at the same CTC",
            "years": n,
            "request_change": {"orgyear": int(seen.orgyear - n)},
            "reason": None,
        }

    def _years_first(self, seen: _Learner, clean: Any, most: int) -> tuple[int, int] | None:
        """(years, centre) of the first of 1..``most`` more years that moves the learner, one
        year at a time on Python scalars: ~9 µs a year, and most learners move within a few
        years, where the numpy arrays of all 40 years cost ~0.3 ms whatever the answer."""
        k = self.kernel
        cleaned = clean_columns(clean)
        for n in range(1, most + 1):
            orgyear = seen.orgyear - n
            if clean.ctc_imputed:  # the CTC is imputed from the start year: clean it again
                x = self._features({**seen.raw, "orgyear": orgyear})[1]
            else:  # an earlier start year is kept as given: only the features change
                values = compute_features(
                    {**cleaned, "orgyear": orgyear}, k.tables, SCALAR, k.features
                )
                x = [float(values[name]) for name in k.features]
            centre = k.nearest_one(x)[0]
            if centre != seen.centre:
                return n, centre
        return None

    def _track_note(self) -> dict[str, Any]:
        return {
            "input": "track",
            "direction": None,
            **_none(
                "the track is not an input of the model: another job title changes the course "
                "(the cohort), not the segment"
            ),
        }

    # ------------------------------------------------------------------------------- path
    def _path(self, seen: _Learner) -> list[dict[str, Any]]:
        if "years_experience" not in self.kernel.features:
            return []
        # The rule of path_centres, for one learner on Python floats: four numpy placements of
        # one row cost ~3x more (the tests hold the two to the same centres).
        j = self.kernel.features.index("years_experience")
        out = []
        for n in PATH_YEARS:
            x = list(seen.x)
            x[j] += n
            nearest = self.kernel.nearest_one(x)[0]
            out.append({"years": n, **self._segment(nearest, seen.track, seen.years + n)})
        return out


def path_centres(kernel: Kernel, x: FloatArray, years: tuple[int, ...] = PATH_YEARS) -> IntArray:
    """The nearest centre of each learner after each number of more ``years`` at the same pay
    relative to experience peers: every input but the years of experience held.

    The one rule of the career path: the report's paths of whole segments
    (:mod:`training.insights.paths`) call it, and one learner's ``path`` follows it on Python
    floats (held to it by the tests).

    Parameters
    ----------
    kernel : Kernel
        The model; ``years_experience`` must be one of its inputs.
    x : ndarray, shape (n_learners, n_features)
        The learners' model features, in ``kernel.features`` order.
    years : tuple of int
        The years ahead.

    Returns
    -------
    ndarray of int, shape (n_learners, len(years))
        Centre indices (not public ids).
    """
    j = kernel.features.index("years_experience")
    out = np.empty((len(x), len(years)), np.intp)
    for i, n in enumerate(years):
        moved = np.array(x, np.float64, copy=True)
        moved[:, j] += n
        out[:, i] = kernel.assign(moved)
    return out


def _tier_name(tier: int, lowest: int) -> str:
    """A company tier as a coach says it: best-paying, mid-paying or lower-paying."""
    if tier <= 1:
        return "best-paying"
    return "lower-paying" if tier >= lowest else "mid-paying"


def _none(reason: str) -> dict[str, Any]:
    return {
        "segment_id": None,
        "segment_name": None,
        "course": None,
        "course_name": None,
        "change": None,
        "request_change": None,
        "reason": reason,
    }


def first_crossing(
    kernel: Kernel, x: FloatArray, slope: FloatArray, centre: int, span: float
) -> tuple[float, int] | None:
    """The first step ``t`` (same sign as ``span``, ``|t| <= |span|``) at which moving a learner's
    features ``x + t * slope`` places them nearer another centre than ``centre``.

    One learner of :func:`first_crossings`, the same maths on Python floats: for one learner a
    model's few centres and inputs cost less as floats than as numpy calls (14 µs a call
    against ~130 through :func:`first_crossings` on the default model). The tests hold the two
    to the same answers (``tests/training/runtime/test_explain.py``), and ``assign --explain``
    (the batch) to the Explainer's, row by row.

    Returns
    -------
    (t, index) or None
        The step and the centre beyond the boundary; None when no boundary lies within ``span``.
    """
    direction = 1.0 if span > 0 else -1.0
    length = abs(span)
    lower, upper = kernel.lower.tolist(), kernel.upper.tolist()
    mean, scale = kernel.mean.tolist(), kernel.scale.tolist()
    centres = kernel.centers.tolist()
    xs = [float(v) for v in x]
    step = [float(v) * direction for v in slope]
    inputs = range(len(xs))
    cuts = {0.0, length}
    for j in inputs:
        if step[j] != 0.0:
            for bound in (lower[j], upper[j]):
                t = (bound - xs[j]) / step[j]
                if 0.0 < t < length:
                    cuts.add(t)
    own = centres[centre]
    for start, stop in itertools.pairwise(sorted(cuts)):
        middle = (start + stop) / 2.0
        z0 = [
            (min(max(xs[j] + start * step[j], lower[j]), upper[j]) - mean[j]) / scale[j]
            for j in inputs
        ]
        # the inputs that move within this piece (the others sit at a clip bound or stay)
        w = [
            step[j] / scale[j]
            if step[j] != 0.0 and lower[j] < xs[j] + middle * step[j] < upper[j]
            else 0.0
            for j in inputs
        ]
        first, first_t = -1, math.inf
        for i, other in enumerate(centres):
            if i == centre:
                continue
            # gap = |z - other|^2 - |z - own|^2, linear in t along the piece
            gap0 = sum((z - o) ** 2 - (z - c) ** 2 for z, o, c in zip(z0, other, own, strict=True))
            rate = -2.0 * sum((o - c) * wj for o, c, wj in zip(other, own, w, strict=True))
            if rate < 0.0:
                t = start - gap0 / rate
                if t >= start - 1e-12 and t < first_t:
                    first, first_t = i, t
        if first >= 0 and first_t <= stop:
            return max(first_t, start) * direction, first
    return None


def first_crossings(
    kernel: Kernel,
    x: FloatArray,
    slope: FloatArray,
    centre: npt.NDArray[np.intp],
    span: FloatArray,
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """:func:`first_crossing` of many learners at once: each moves ``x[i] + t * slope[i]``.

    Clipping is applied as in placement: each move is cut into pieces where a moving feature
    reaches its clip bound, and within a piece every squared-distance gap is linear in ``t``.

    Parameters
    ----------
    kernel : Kernel
        The model (its clip bounds, scaling and centres).
    x, slope : ndarray of shape (n, n_features)
        Each learner's features, and how each moves per unit of ``t``.
    centre : ndarray of intp, shape (n,)
        The centre each learner is in.
    span : ndarray of shape (n,)
        How far each may move (its sign is the direction).

    Returns
    -------
    t : ndarray of shape (n,)
        The step to the first boundary (same sign as ``span``); NaN where none lies within.
    index : ndarray of intp, shape (n,)
        The centre beyond it; -1 where none.
    """
    n = x.shape[0]
    direction = np.where(span > 0, 1.0, -1.0)[:, None]
    length = np.abs(span)
    centres = kernel.centers
    # Where each moving feature reaches a clip bound: the ends of the pieces.
    moves = np.flatnonzero(np.any(slope != 0, axis=0))
    xm, sm = x[:, moves], slope[:, moves]
    with np.errstate(divide="ignore", invalid="ignore"):
        ends = [
            np.where(sm != 0, (bound[moves] - xm) / sm * direction, np.inf)
            for bound in (kernel.lower, kernel.upper)
        ]
    inner = np.concatenate(ends, axis=1)
    inner = np.where((inner > 0.0) & (inner < length[:, None]), inner, np.inf)
    cuts = np.sort(np.column_stack([np.zeros(n), length, inner]), axis=1)
    found_t = np.full(n, np.nan)
    found = np.full(n, -1, np.intp)
    for piece in range(cuts.shape[1] - 1):
        start, stop = cuts[:, piece], cuts[:, piece + 1]
        todo = np.flatnonzero((found < 0) & (stop > start) & np.isfinite(stop))
        if todo.size == 0:
            continue
        s0, s1 = start[todo, None], stop[todo, None]
        middle = x[todo] + (s0 + s1) / 2.0 * direction[todo] * slope[todo]
        moving = (slope[todo] != 0) & (middle > kernel.lower) & (middle < kernel.upper)
        live = moving.any(axis=1)  # where every moving input is clipped, nothing can cross
        todo, moving, s0, s1 = todo[live], moving[live], s0[live], s1[live]
        xs, ss, d, own = x[todo], slope[todo], direction[todo], centre[todo]
        z0 = (np.clip(xs + s0 * d * ss, kernel.lower, kernel.upper) - kernel.mean) / kernel.scale
        w = np.where(moving, ss / kernel.scale, 0.0) * d
        # The squared-distance gap to every centre at the piece's start, and its rate along t.
        # (Column by column: a BLAS product of these thin matrices costs more than the sums.)
        square = np.empty((todo.size, centres.shape[0]))
        pull = np.empty((todo.size, centres.shape[0]))
        for c, row in enumerate(centres):
            square[:, c] = ((z0 - row) ** 2).sum(axis=1)
            pull[:, c] = (w * row).sum(axis=1)
        lanes = np.arange(todo.size)
        gap0 = square - square[lanes, own][:, None]
        rate = -2.0 * (pull - pull[lanes, own][:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(rate < 0, s0 - gap0 / rate, np.inf)
        t[lanes, own] = np.inf
        t[t < s0 - 1e-12] = np.inf
        first = np.argmin(t, axis=1)
        best = t[lanes, first]
        hit = best <= s1[:, 0]
        chosen = todo[hit]
        found[chosen] = first[hit]
        found_t[chosen] = np.maximum(best[hit], s0[hit, 0]) * direction[chosen, 0]
    return found_t, found
