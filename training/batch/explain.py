"""``python -m training assign --explain``: the what-if columns of every placed row, per chunk.

For campaigns ("learners one raise away from segment X"), each placed row gets the answers
:class:`training.runtime.explain.Explainer` gives one learner, for a whole chunk at once:

* **pay up** and **pay down** (:data:`PAY_COLUMNS`): the smallest whole-rupee CTC that places
  the learner in another segment, within the CTC range the cleaning rules keep, the change in INR
  and in % of the learner's (cleaned) CTC, and that segment's id and name;
* **company tier** (:data:`TIER_COLUMNS`): the nearest other tier whose company (the training
  company of that tier with the most learners) places the learner elsewhere, that company and
  the segment;
* where no move exists, the values are null and the ``*_reason`` column holds one of
  :data:`REASONS`; rows that cannot be placed (an ``error``) have nulls throughout.

How, with numpy over the chunk (the scalar Explainer's method, row for row):

* along pay, with the other inputs held, the learner's features move one for one in log CTC
  (log CTC and pay against peers) between the pay-band edges of the cleaning rules and the peer
  tables, so each stretch's first cell boundary comes in closed form for every row at once
  (:func:`training.runtime.explain.first_crossings`); rows whose other inputs read pay through a
  band (a start year or a title median imputed from pay peers) walk band by band, placed again
  one rupee past each edge and their slopes measured as the Explainer measures them, all rows
  of a stretch together;
* every crossing is settled as the Explainer settles it: the whole rupee at or just past it,
  checked by placing the rows with that CTC (rows whose cleaning does not read the CTC are
  placed from their cleaned columns: the same features, without cleaning them again);
* the rows where the Explainer falls back to its search (a stretch that is not linear, a
  placement that disagrees with the closed form after a few rupees) get the same search, 1 %
  steps then halving to the rupee, for all of them at once;
* for the tier, when the company tier is the only input a company moves, the tier column is set
  for each tier and the rows placed again; otherwise the rows are placed with each tier's company;
* a model that reads a pay flag (pay above or below a peer median, a step of the learner's own
  pay) has no closed form: its rows are answered by the Explainer itself, row by row.

Measured with ``bench/assign_explain.py`` (``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from training.runtime.courses import CohortCourses
from training.runtime.explain import (
    ON_EDGE,
    ORGYEAR_FROM_PAY,
    PAY_PROBE,
    TITLE_INPUTS,
    Explainer,
    first_crossings,
)
from training.runtime.features import FALLBACK_FLAGS, clean_columns, compute_features
from training.runtime.kernel import Kernel
from training.runtime.loader import VerifiedModel
from training.runtime.ops import ARRAY, Coded
from training.runtime.schema import RAW_FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "PAY_COLUMNS",
    "REASONS",
    "TIER_COLUMNS",
    "WHAT_IF_COLUMNS",
    "WhatIfs",
    "append_what_ifs",
    "what_ifs_of",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: The columns of one pay direction (``{side}`` is ``up`` or ``down``).
PAY_COLUMNS: tuple[str, ...] = (
    "pay_{side}_ctc",
    "pay_{side}_inr",
    "pay_{side}_pct",
    "pay_{side}_segment_id",
    "pay_{side}_segment_name",
    "pay_{side}_reason",
)
#: The columns of the company-tier move.
TIER_COLUMNS: tuple[str, ...] = (
    "tier_to",
    "tier_company",
    "tier_segment_id",
    "tier_segment_name",
    "tier_reason",
)
#: Every what-if column, in the order they follow the answer columns.
WHAT_IF_COLUMNS: tuple[str, ...] = (
    *(c.format(side="up") for c in PAY_COLUMNS),
    *(c.format(side="down") for c in PAY_COLUMNS),
    *TIER_COLUMNS,
)
#: The codes of the ``*_reason`` columns: why a move is null.
REASONS: dict[str, str] = {
    "at_limit": "the CTC is already at this end of the CTC range the model keeps",
    "ctc_imputed": "the CTC given is not a yearly salary: placed with an estimate, no pay change",
    "none_in_range": "no CTC between the learner's and that end of the range moves the learner",
    "not_an_input": "the company tier is not an input of this model",
    "none_moves": "no company of another tier moves the learner",
}

#: Inputs that move one for one with log CTC, the other inputs held.
_PAY_LINEAR = frozenset(
    {"log_ctc", "pay_vs_company", "pay_vs_title", "pay_vs_peers", "pay_vs_experience"}
)
#: Inputs that step with the learner's own pay (against a peer median): no closed form.
_PAY_FLAGS = frozenset({"designation_flag", "class_flag", "tier_flag"})
#: Inputs that read the company (a company of another tier moves them).
_COMPANY_INPUTS = frozenset(
    {
        "log_company_size",
        "company_tier",
        "pay_vs_company",
        "pay_vs_peers",
        "designation_flag",
        "tier_flag",
        "company_known",
    }
)
#: The cleaned columns the features read.
_CLEAN_NAMES = ("company", "job_title", "track", "orgyear", "ctc", "ctc_updated_year")
#: Rupees past a crossing checked by placing before a row goes to the Explainer (as it does).
_SETTLE_TRIES = 4
#: 1 % steps of the search placed at once per row.
_SEARCH_BLOCK = 16


@dataclass(frozen=True)
class _Chunk:
    """The placed rows of a chunk: raw, cleaned, and where the cleaning does not read the CTC
    (the start year is not imputed from pay peers)."""

    raw: dict[str, Any]
    clean: dict[str, Any]
    fixed: npt.NDArray[np.bool_]


@dataclass
class _Pay:
    """One pay direction's answers for the rows of a chunk (NaN / -1 where none)."""

    ctc: FloatArray
    centre: IntArray
    reason: npt.NDArray[np.object_]
    fallback: IntArray = field(default_factory=lambda: np.zeros(0, np.intp))  # the Explainer's


class WhatIfs:
    """The what-if columns of one model (build once per model: :func:`what_ifs_of`).

    Parameters
    ----------
    kernel : Kernel
        The model placing the rows.
    cohorts : CohortCourses
        Its course for each cohort (the Explainer's).
    names : mapping of int to str
        ``profiles.json``'s name of each segment id.
    """

    def __init__(self, kernel: Kernel, cohorts: CohortCourses, names: Mapping[int, str]) -> None:
        self.kernel = kernel
        self.explainer = Explainer(kernel, cohorts, dict(names))
        features = self.kernel.features
        self._names = [names[int(i)] for i in kernel.segment_ids]
        self._slope = np.array([1.0 if f in _PAY_LINEAR else 0.0 for f in features])
        self._closed_form = not (_PAY_FLAGS & set(features))
        self._titles = bool(TITLE_INPUTS & set(features))
        rules, tables = self.kernel.rules, self.kernel.tables
        self._edges = np.array(sorted({*rules.orgyear_band_edges, *tables.pay_band_edges}))
        self._tiers = self.explainer.tier_companies
        self._tier_only = (_COMPANY_INPUTS & set(features)) == {"company_tier"}

    @classmethod
    def from_model(cls, model: VerifiedModel) -> Self:
        """The what-ifs of a loaded model."""
        return cls(model.kernel, model.cohorts, model.names())

    # -------------------------------------------------------------------------------- moves
    def reachable_moves(
        self, raw: Mapping[str, Any], pay_step: float
    ) -> tuple[list[int], list[set[tuple[str, str, int]]]]:
        """Each row's segment id and the moves within its reach that a learner would seek: a
        raise of at most ``pay_step`` of the learner's pay (``("pay", "more", segment_id)``) and
        the nearest other tier when it pays better (``("company_tier", "tier <n>",
        segment_id)``), as the Explainer finds them (the report's paths count them).

        Parameters
        ----------
        raw : mapping of str to ndarray
            ``RAW_FIELDS`` of rows that can all be placed (numbers as float64 with NaN for
            missing, text as object arrays of str or None).
        pay_step : float
            The largest raise, as a share of the learner's (cleaned) CTC, that counts.
        """
        n = len(raw["ctc"])
        clean, values = self.kernel.featurize(raw)
        x = self.kernel.matrix(values)
        ids = self.kernel.segment_ids
        placed = [int(s) for s in ids[self.kernel.assign(x)]]
        columns = self.columns(raw, np.ones(n, bool))
        ctc = np.asarray(clean.ctc, np.float64)
        with np.errstate(invalid="ignore"):
            # rounded as the Explainer rounds its "relative" before comparing
            raise_share = np.round((columns["pay_up_ctc"] - ctc) / ctc, 4)
        pay_to = columns["pay_up_segment_id"]
        tier_to, tier_dest = columns["tier_to"], columns["tier_segment_id"]
        moves: list[set[tuple[str, str, int]]] = [set() for _ in range(n)]
        for i in np.flatnonzero((pay_to >= 0) & (raise_share <= pay_step)):
            moves[i].add(("pay", "more", int(pay_to[i])))
        if "company_tier" in self.kernel.features:
            current = np.round(x[:, self.kernel.features.index("company_tier")])
            for i in np.flatnonzero((tier_dest >= 0) & (tier_to >= 0) & (tier_to < current)):
                moves[i].add(("company_tier", f"tier {int(tier_to[i])}", int(tier_dest[i])))
        return placed, moves

    # -------------------------------------------------------------------------------- chunk
    def columns(self, raw: Mapping[str, Any], placed: npt.NDArray[np.bool_]) -> dict[str, Any]:
        """The what-if columns of a chunk's rows.

        Parameters
        ----------
        raw : mapping of str to ndarray or Coded, each of length n
            ``RAW_FIELDS`` of the rows, as placement reads them.
        placed : ndarray of bool, shape (n,)
            The rows that were placed (the others get nulls).

        Returns
        -------
        dict of str to ndarray, each of shape (n,)
            :data:`WHAT_IF_COLUMNS`: float (NaN for null), int (-1 for null) or object.
        """
        n = len(placed)
        rows = np.flatnonzero(placed)
        sub = _take({name: _coded(raw[name]) for name in RAW_FIELDS}, rows, RAW_FIELDS)
        clean, values = self.kernel.featurize(sub, FALLBACK_FLAGS)
        x = self.kernel.matrix(values)
        centre = self.kernel.assign(x)
        ctc = np.asarray(clean.ctc, np.float64)
        imputed = np.asarray(clean.touched["ctc_implausible_imputed"], bool)
        from_pay = np.zeros(len(rows), bool)
        for rule in ORGYEAR_FROM_PAY:
            from_pay |= np.asarray(clean.touched[rule], bool)
        steps = from_pay | (self._titles & (np.asarray(values["title_known"]) == 0))
        chunk = _Chunk(sub, clean_columns(clean), ~from_pay)
        out: dict[str, Any] = {}
        for side, direction in (("up", 1), ("down", -1)):
            pay = self._pay(chunk, ctc, x, centre, steps, direction)
            self._fallback(chunk, ctc, pay, direction)
            # as the Explainer: no pay change from an estimate of a CTC the learner never gave
            pay.ctc[imputed], pay.centre[imputed], pay.reason[imputed] = np.nan, -1, "ctc_imputed"
            out.update(self._pay_columns(side, n, rows, ctc, pay))
        out.update(self._tier_columns(n, rows, sub, x, centre))
        return out

    # ---------------------------------------------------------------------------------- pay
    def _pay(
        self,
        chunk: _Chunk,
        ctc: FloatArray,
        x: FloatArray,
        centre: IntArray,
        steps: npt.NDArray[np.bool_],
        direction: int,
    ) -> _Pay:
        """The Explainer's pay walk over all rows at once, stretch by stretch between band edges.

        Rows whose other inputs do not read pay through a band have one stretch, solved with the
        slopes pay gives (1 or 0); the others are walked edge by edge with the slopes measured,
        as the Explainer measures them. Rows where that is not linear, or where placing
        disagrees with the closed form, go to the search (:meth:`_search`).
        """
        rules = self.kernel.rules
        m = len(ctc)
        limit = rules.ctc_high if direction > 0 else rules.ctc_min
        out = _Pay(np.full(m, np.nan), np.full(m, -1, np.intp), np.full(m, None, object))
        at_limit = (limit - ctc) * direction <= 0
        out.reason[at_limit] = "at_limit"
        if not self._closed_form:
            out.fallback = np.flatnonzero(~at_limit)
            return out
        here, end = np.log(ctc), math.log(limit)
        edges = self._edges
        # The band edges between here and the end, in walking order, per step row; walking
        # down, an edge the CTC sits exactly on counts (the Explainer's rule: a cut crosses it
        # at the first rupee down), giving that row an empty first stretch.
        on = here + ON_EDGE
        if direction > 0:
            first = np.searchsorted(edges, on, side="right")
            count = np.searchsorted(edges, end, side="left") - first
        else:
            first = np.searchsorted(edges, on, side="right") - 1
            count = first - np.searchsorted(edges, end, side="right") + 1
        count = np.where(steps, np.maximum(count, 0), 0)
        walking = np.flatnonzero(~at_limit)
        start, x = here.copy(), x.copy()
        settle: list[tuple[IntArray, FloatArray]] = []
        search: list[IntArray] = []
        stretch = 0
        while walking.size:
            if stretch > 0:  # past a band edge: a step may have moved the learner
                probe = np.exp(start[walking]) + direction
                moved, x_new = self._place(chunk, walking, probe)
                away = moved != centre[walking]
                settle.append((walking[away], np.exp(start[walking[away]])))
                walking, probe, x_new = walking[~away], probe[~away], x_new[~away]
                x[walking] = x_new
                start[walking] = np.log(probe)
            last = stretch >= count[walking]
            stop = np.where(
                last, end, edges[np.clip(first[walking] + direction * stretch, 0, len(edges) - 1)]
            )
            # an empty stretch (a CTC on the edge it starts from): straight to the probe
            empty = ~last & (stop >= start[walking]) if direction < 0 else np.zeros(0, bool)
            idle = walking[empty] if empty.size else walking[:0]
            if idle.size:
                start[idle] = stop[empty]
                walking, last, stop = walking[~empty], last[~empty], stop[~empty]
            slope = np.repeat(self._slope[None, :], walking.size, axis=0)
            measured = np.flatnonzero(steps[walking])
            if measured.size:
                rows = walking[measured]
                slope[measured], linear = self._slopes(
                    chunk, rows, start[rows], stop[measured], x[rows]
                )
                search.append(rows[~linear])
                keep = np.ones(walking.size, bool)
                keep[measured[~linear]] = False
                walking, slope, last, stop = walking[keep], slope[keep], last[keep], stop[keep]
            t, _ = first_crossings(
                self.kernel, x[walking], slope, centre[walking], stop - start[walking]
            )
            hit = ~np.isnan(t)
            settle.append((walking[hit], np.exp(start[walking[hit]] + t[hit])))
            out.reason[walking[~hit & last]] = "none_in_range"
            keep = ~hit & ~last
            start[walking[keep]] = stop[keep]
            walking = np.concatenate([walking[keep], idle])
            stretch += 1
        rows = np.concatenate([r for r, _ in settle]) if settle else np.zeros(0, np.intp)
        at = np.concatenate([a for _, a in settle]) if settle else np.zeros(0)
        search.append(self._settle(chunk, centre, rows, at, limit, direction, out))
        self._search(chunk, ctc, centre, np.concatenate(search), limit, direction, out)
        return out

    def _slopes(
        self,
        chunk: _Chunk,
        rows: IntArray,
        start: FloatArray,
        stop: FloatArray,
        x: FloatArray,
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """How each input moves with log CTC over a stretch, measured at its middle as the
        Explainer measures it: the rounded slopes, and whether they are all 1 or 0."""
        step = (stop - start) / 2.0
        _, moved = self._place(chunk, rows, np.exp(start + step))
        with np.errstate(divide="ignore", invalid="ignore"):
            slopes = (moved - x) / step[:, None]
        linear = np.all((np.abs(slopes) < 1e-6) | (np.abs(slopes - 1.0) < 1e-6), axis=1)
        return np.where(linear[:, None], np.round(slopes), 0.0), linear

    def _settle(
        self,
        chunk: _Chunk,
        centre: IntArray,
        rows: IntArray,
        at: FloatArray,
        limit: float,
        direction: int,
        out: _Pay,
    ) -> IntArray:
        """The whole rupee at or just past each crossing that places the row elsewhere; the
        rows where a few rupees do not (they go to the search, as in the Explainer)."""
        amount = np.ceil(at) if direction > 0 else np.floor(at)
        for _ in range(_SETTLE_TRIES):
            beyond = (amount - limit) * direction > 0
            out.reason[rows[beyond]] = "none_in_range"
            rows, amount = rows[~beyond], amount[~beyond]
            if rows.size == 0:
                break
            moved, _ = self._place(chunk, rows, amount)
            away = moved != centre[rows]
            out.ctc[rows[away]] = amount[away]
            out.centre[rows[away]] = moved[away]
            rows, amount = rows[~away], amount[~away] + direction
        return rows

    def _search(
        self,
        chunk: _Chunk,
        ctc: FloatArray,
        centre: IntArray,
        rows: IntArray,
        limit: float,
        direction: int,
        out: _Pay,
    ) -> None:
        """The Explainer's search, for many rows at once: the first 1 % step that places the
        row elsewhere, then halved down to the rupee."""
        if rows.size == 0:
            return
        base = ctc[rows]
        steps = (np.abs(np.log(limit / base)) / PAY_PROBE).astype(np.int64) + 1
        inside, outside = base.copy(), np.full(rows.size, np.nan)
        todo = np.arange(rows.size)
        first = 1
        while todo.size:
            block = np.arange(first, first + _SEARCH_BLOCK)
            grid = base[todo, None] * np.exp(PAY_PROBE * direction * block)[None, :]
            grid = np.minimum(grid, limit) if direction > 0 else np.maximum(grid, limit)
            within = block[None, :] <= steps[todo, None]
            moved, _ = self._place(chunk, np.repeat(rows[todo], block.size), grid.ravel())
            away = (moved.reshape(grid.shape) != centre[rows[todo], None]) & within
            found = away.any(axis=1)
            at = np.argmax(away, axis=1)
            lane = np.arange(todo.size)
            previous = np.where(at > 0, grid[lane, np.maximum(at - 1, 0)], inside[todo])
            inside[todo[found]] = previous[found]
            outside[todo[found]] = grid[lane[found], at[found]]
            inside[todo[~found]] = grid[~found, -1]
            out.reason[rows[todo[~found & ~within[:, -1]]]] = "none_in_range"
            todo = todo[~found & within[:, -1]]
            first += _SEARCH_BLOCK
        done = ~np.isnan(outside)
        rows, inside, outside = rows[done], inside[done], outside[done]
        wide = np.flatnonzero(np.abs(outside - inside) > 1.0)
        while wide.size:
            middle = (inside[wide] + outside[wide]) / 2.0
            moved, _ = self._place(chunk, rows[wide], middle)
            away = moved != centre[rows[wide]]
            outside[wide[away]] = middle[away]
            inside[wide[~away]] = middle[~away]
            wide = wide[np.abs(outside[wide] - inside[wide]) > 1.0]
        amount = np.ceil(outside) if direction > 0 else np.floor(outside)
        out.ctc[rows] = amount
        out.centre[rows] = self._place(chunk, rows, amount)[0]

    def _place(self, chunk: _Chunk, rows: IntArray, ctc: FloatArray) -> tuple[IntArray, FloatArray]:
        """The centre and features of rows placed with another CTC (as a request would be).

        Rows whose cleaning does not read the CTC keep their cleaned columns, the CTC aside
        (the rules keep a CTC of the range as given): for a CTC of the range only their
        features are computed again.
        """
        kernel = self.kernel
        rules = kernel.rules
        fixed = chunk.fixed[rows] & (ctc >= rules.ctc_min) & (ctc <= rules.ctc_high)
        x = np.empty((rows.size, len(kernel.features)))
        for part, names, source in (
            (fixed, _CLEAN_NAMES, chunk.clean),
            (~fixed, RAW_FIELDS, chunk.raw),
        ):
            if not part.any():
                continue
            columns = _take(source, rows[part], names)
            columns["ctc"] = ctc[part]
            if source is chunk.clean:
                values = compute_features(columns, kernel.tables, ARRAY, kernel.features)
            else:
                values = kernel.featurize(columns)[1]
            x[part] = kernel.matrix(values)
        return kernel.assign(x), x

    def _fallback(self, chunk: _Chunk, ctc: FloatArray, pay: _Pay, direction: int) -> None:
        """The rows the closed form leaves: the Explainer's own answer, row by row."""
        wanted = "more" if direction > 0 else "less"
        ids = {int(s): i for i, s in enumerate(self.kernel.segment_ids.tolist())}
        for i in pay.fallback.tolist():
            learner = {name: chunk.raw[name][i] for name in RAW_FIELDS}
            entry = next(
                e
                for e in self.explainer.explain(learner)["what_if"]
                if e["input"] == "pay" and e["direction"] == wanted
            )
            if entry["request_change"] is None:
                pay.reason[i] = "none_in_range"
            else:
                pay.ctc[i] = entry["request_change"]["ctc"]
                pay.centre[i] = ids[entry["segment_id"]]

    def _pay_columns(
        self, side: str, n: int, rows: IntArray, ctc: FloatArray, pay: _Pay
    ) -> dict[str, Any]:
        new = _spread(n, rows, pay.ctc, np.nan)
        before = _spread(n, rows, ctc, np.nan)
        centre = _spread(n, rows, pay.centre, -1)
        return {
            f"pay_{side}_ctc": new,
            f"pay_{side}_inr": np.round(new - before, 0),
            f"pay_{side}_pct": np.round((new - before) / before * 100.0, 2),
            **self._segment(f"pay_{side}", centre),
            f"pay_{side}_reason": _spread(n, rows, pay.reason, None),
        }

    # --------------------------------------------------------------------------------- tier
    def _tier_columns(
        self, n: int, rows: IntArray, raw: Mapping[str, Any], x: FloatArray, centre: IntArray
    ) -> dict[str, Any]:
        m = len(rows)
        to = np.full(m, -1, np.intp)
        dest = np.full(m, -1, np.intp)
        reason = np.full(m, None, object)
        company = np.full(m, None, object)
        features = self.kernel.features
        if "company_tier" not in features:
            reason[:] = "not_an_input"
        else:
            j = features.index("company_tier")
            current = np.round(x[:, j])
            best = np.full(m, np.inf)
            for tier, name in sorted(self._tiers.items()):
                if self._tier_only:
                    moved_x = x.copy()
                    moved_x[:, j] = tier
                    moved = self.kernel.assign(moved_x)
                else:
                    moved = self._place_at(raw, name)
                # The Explainer tries the nearest tiers first, the better-paying first on a tie.
                rank = np.abs(tier - current) * 1_000 + tier
                better = (moved != centre) & (current != tier) & (rank < best)
                best[better] = rank[better]
                to[better], dest[better], company[better] = tier, moved[better], name
            reason[to < 0] = "none_moves"
        return {
            "tier_to": _spread(n, rows, to, -1),
            "tier_company": _spread(n, rows, company, None),
            **self._segment("tier", _spread(n, rows, dest, -1)),
            "tier_reason": _spread(n, rows, reason, None),
        }

    def _place_at(self, raw: Mapping[str, Any], company: str) -> IntArray:
        """The centre of every row placed with another company."""
        n = len(raw["ctc"])
        columns = {**raw, "company_hash": Coded(np.zeros(n, np.intp), [company])}
        _, values = self.kernel.featurize(columns)
        return self.kernel.assign(self.kernel.matrix(values))

    def _segment(self, prefix: str, centre: IntArray) -> dict[str, Any]:
        none = centre < 0
        ids = self.kernel.segment_ids[np.where(none, 0, centre)]
        names = np.array(self._names, dtype=object)[np.where(none, 0, centre)]
        names[none] = None
        return {f"{prefix}_segment_id": np.where(none, -1, ids), f"{prefix}_segment_name": names}


def _take(columns: Mapping[str, Any], rows: IntArray, names: Sequence[str]) -> dict[str, Any]:
    """Some rows of some columns (a Coded column of a few rows keeps only the values they use:
    the rules and lookups run once per value)."""
    out: dict[str, Any] = {}
    for name in names:
        column = columns[name]
        if isinstance(column, Coded) and rows.size * 4 >= len(column):
            out[name] = Coded(column.codes[rows], column.uniques)
        elif isinstance(column, Coded):
            used, codes = np.unique(column.codes[rows], return_inverse=True)
            out[name] = Coded(codes.reshape(-1).astype(np.intp), [column.uniques[i] for i in used])
        else:
            out[name] = np.asarray(column)[rows]
    return out


def _coded(column: Any) -> Any:
    """A text column as a :class:`Coded` one (numbered once: the chunk is placed many times)."""
    if isinstance(column, Coded) or not (isinstance(column, np.ndarray) and column.dtype == object):
        return column
    index: dict[Any, int] = {}
    codes = [index.setdefault(value, len(index)) for value in column.tolist()]
    return Coded(np.array(codes, np.intp), list(index))


def _spread(n: int, rows: IntArray, values: npt.NDArray[Any], empty: Any) -> npt.NDArray[Any]:
    out = np.full(n, empty, dtype=values.dtype)
    out[rows] = values
    return out


# ------------------------------------------------------------------------------------ the hook
_CACHE: dict[int, tuple[VerifiedModel, WhatIfs]] = {}


def what_ifs_of(model: VerifiedModel) -> WhatIfs:
    """The :class:`WhatIfs` of a model, built once per model object."""
    found = _CACHE.get(id(model))
    if found is None or found[0] is not model:
        _CACHE.clear()
        found = _CACHE[id(model)] = (model, WhatIfs.from_model(model))
    return found[1]


def append_what_ifs(model: VerifiedModel, raw: Mapping[str, Any], answers: pa.Table) -> pa.Table:
    """An answer table with the :data:`WHAT_IF_COLUMNS` of its rows appended.

    Parameters
    ----------
    model : VerifiedModel
        The model that placed the rows.
    raw : mapping of str to ndarray or Coded
        The raw columns the answers were made from (``RAW_FIELDS``, one value per answer row).
    answers : pyarrow.Table
        Their answers (:func:`training.batch.answers.assign_columns`); rows with an ``error``
        get nulls.

    Returns
    -------
    pyarrow.Table
    """
    import pyarrow as pa

    placed = np.asarray(answers.column("error").is_null().to_numpy(zero_copy_only=False), bool)
    columns = what_ifs_of(model).columns(raw, placed)
    for name in WHAT_IF_COLUMNS:
        values = columns[name]
        if values.dtype == object:
            array = pa.array(values, pa.string())
        elif values.dtype.kind == "f":
            array = pa.array(values, pa.float64(), mask=np.isnan(values))
        else:
            array = pa.array(values, pa.int64(), mask=values < 0)
        answers = answers.append_column(name, array)
    return answers
