"""Two backends for the one implementation of the cleaning rules and the features.

The rules and features are written once, against the small set of operations below. Run with
:data:`ARRAY` they work on numpy column arrays (a training table, a service batch); run with
:data:`SCALAR` the very same code works on one learner's plain Python values, where numpy's
per-call overhead (about 1 µs per operation, some 40 operations) would cost more than the maths.
A contract test feeds both backends the same learners and asserts identical results.
"""

from __future__ import annotations

import bisect
import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload

import numpy as np
import numpy.typing as npt

__all__ = ["ARRAY", "SCALAR", "ArrayOps", "Coded", "Ops", "ScalarOps", "decoded"]

FloatArray = npt.NDArray[np.float64]
_np_log = np.log
_np_log1p = np.log1p


def _float_or_nan(value: Any) -> float:
    """A number as float; anything that is not a number (None, bool, str, ...) as NaN.

    Text is parsed into numbers at the edges (the loader, the API's validation), never here.
    """
    if type(value) is float:  # the common case, first
        return value
    if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an int beyond float range is no plausible CTC or year
        return math.nan


_NUMBER_TYPES = (int, float, np.number)


@dataclass(frozen=True, slots=True)
class Coded:
    """A column of repeated values given by number: row i holds ``uniques[codes[i]]``.

    The array backend takes one wherever it takes a text column (``company_hash``,
    ``job_position``): the rules and lookups then run once per entry of ``uniques`` without
    numbering the rows again (a reader that already numbered them, such as an Arrow dictionary,
    saves that pass). Entries of ``uniques`` need not be distinct.

    Attributes
    ----------
    codes : ndarray of intp, shape (n,)
        Index into ``uniques`` of each row.
    uniques : list
        The values (str or None).
    """

    codes: npt.NDArray[np.intp]
    uniques: list[Any]

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: Any) -> Coded: ...
    def __getitem__(self, index: Any) -> Any:
        """The value of row ``index`` (an int), or the rows it selects (an array, a slice)."""
        if isinstance(index, (int, np.integer)):
            return self.uniques[self.codes[index]]
        return Coded(self.codes[index], self.uniques)

    def decoded(self) -> npt.NDArray[np.object_]:
        """The rows' values as an object array."""
        table = np.empty(len(self.uniques), dtype=object)
        table[:] = self.uniques
        out: npt.NDArray[np.object_] = table[self.codes]
        return out

    def tolist(self) -> list[Any]:
        """The rows' values as a list."""
        values: list[Any] = self.decoded().tolist()
        return values


def decoded(values: Any) -> Any:
    """A :class:`Coded` column as an object array; anything else as it is."""
    return values.decoded() if isinstance(values, Coded) else values


class ArrayOps:
    """numpy over columns of length n."""

    scalar = False

    @staticmethod
    def floats(values: Any) -> FloatArray:
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
            return values.astype(np.float64, copy=False)
        if set(map(type, values)) <= _PLAIN_NUMBERS:  # numpy turns None into NaN itself
            try:
                return np.array(values, dtype=np.float64)
            except OverflowError:
                pass
        return np.fromiter((_float_or_nan(v) for v in values), np.float64, len(values))

    @staticmethod
    def length(values: Any) -> int:
        return len(values)

    @staticmethod
    def full(n: int, value: Any) -> Any:
        return np.full(n, value)

    @staticmethod
    def derive(
        fn: Callable[..., tuple[Any, ...]],
        values: Any,
        dtypes: Sequence[type],
        *args: Any,
        many: Callable[..., Any] | None = None,
    ) -> tuple[Any, ...]:
        """``fn(value, *args)`` (one value per dtype) once per distinct value; one column per dtype.

        Columns of text repeat a lot (a few thousand companies for 200,000 learners), so the
        values are numbered first (one dict lookup each) and ``fn`` runs on the distinct ones,
        or ``many(distinct, *args)`` on all of them at once (one sequence per dtype, the same
        values as ``fn``'s). A :class:`Coded` column comes numbered; its columns of ``object``
        dtype are then returned as :class:`Coded` too (same codes), for lookups that follow.
        """
        codes, uniques = _factorize(values)
        if many is not None:
            columns = many(uniques, *args)
        else:
            results = [fn(value, *args) for value in uniques]
            columns = [[row[j] for row in results] for j in range(len(dtypes))]
        out: list[Any] = []
        for column, dtype in zip(columns, dtypes, strict=True):
            if isinstance(values, Coded) and dtype is object:
                out.append(Coded(codes, list(column)))
            elif len(uniques):
                out.append(np.array(column, dtype=dtype)[codes])
            else:
                out.append(np.empty(0, dtype=dtype))
        return tuple(out)

    @staticmethod
    def lookup(
        fn: Callable[..., tuple[float, ...]],
        columns: Sequence[Any],
        width: int,
        *args: Any,
        many: Callable[..., Any] | None = None,
    ) -> Any:
        """``fn(*row, *args)`` (``width`` floats) once per distinct row; one column per float.

        For one column, ``many(distinct, *args)`` (``width`` sequences, the same floats as
        ``fn``'s) may do the distinct values all at once.
        """
        if len(columns) == 1:
            codes, uniques = _factorize(columns[0])
            if many is not None and len(uniques):
                stats = np.array(many(uniques, *args), dtype=np.float64)
                return tuple(stats.reshape(width, len(uniques)).T[codes].T)
            table = np.array([fn(value, *args) for value in uniques], dtype=np.float64)
            return tuple(table.reshape(len(uniques), width)[codes].T)
        if all(isinstance(column, Coded) for column in columns):
            return _coded_lookup(fn, columns, width, args)
        seen: dict[tuple[Any, ...], tuple[float, ...]] = {}
        rows = []
        for row in zip(*columns, strict=True):
            found = seen.get(row)
            if found is None:
                found = seen[row] = fn(*row, *args)
            rows.append(found)
        return tuple(np.array(rows, dtype=np.float64).reshape(len(rows), width).T)

    @staticmethod
    def quiet() -> Any:
        """Comparisons with NaN are expected: silence numpy's invalid-value warnings."""
        return np.errstate(invalid="ignore")

    isfinite = staticmethod(np.isfinite)
    where = staticmethod(np.where)
    clip = staticmethod(np.clip)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    floor = staticmethod(np.floor)
    round = staticmethod(np.round)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    any = staticmethod(np.any)

    @staticmethod
    def not_(mask: Any) -> Any:
        return ~mask

    @staticmethod
    def band(edges: Sequence[float], values: Any) -> Any:
        """Index of the band each value falls in (numpy.searchsorted, side='right')."""
        return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")

    @staticmethod
    def take(table: Sequence[float], index: Any) -> Any:
        return np.asarray(table, dtype=np.float64)[index]

    @staticmethod
    def to_index(values: Any, upper: int) -> Any:
        return np.clip(np.floor(values), 0, upper).astype(np.intp)


class ScalarOps:
    """The same operations on one learner's Python floats and bools."""

    scalar = True

    @staticmethod
    def floats(value: Any) -> float:
        return _float_or_nan(value)

    @staticmethod
    def length(value: Any) -> int:
        return 1

    @staticmethod
    def full(n: int, value: Any) -> Any:
        return value

    @staticmethod
    def derive(
        fn: Callable[..., tuple[Any, ...]],
        value: Any,
        dtypes: Sequence[type],
        *args: Any,
        many: Callable[..., Any] | None = None,
    ) -> tuple[Any, ...]:
        return fn(value, *args)

    @staticmethod
    def lookup(
        fn: Callable[..., tuple[float, ...]],
        columns: Sequence[Any],
        width: int,
        *args: Any,
        many: Callable[..., Any] | None = None,
    ) -> Any:
        return fn(*columns, *args)

    @staticmethod
    def quiet() -> Any:
        return _NO_CONTEXT

    @staticmethod
    def isfinite(x: float) -> bool:
        return math.isfinite(x)

    @staticmethod
    def where(cond: bool, a: Any, b: Any) -> Any:
        return a if cond else b

    @staticmethod
    def clip(x: float, lo: float, hi: float) -> float:
        # NaN stays NaN, as in numpy: both comparisons are False.
        return lo if x < lo else hi if x > hi else x

    @staticmethod
    def minimum(a: float, b: float) -> float:
        return a if (a <= b or a != a) else b

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return a if (a >= b or a != a) else b

    @staticmethod
    def floor(x: float) -> float:
        return float(math.floor(x)) if math.isfinite(x) else x

    @staticmethod
    def round(x: float) -> float:
        return float(round(x)) if math.isfinite(x) else x  # half to even, as numpy

    # numpy's own log: math.log differs from it in the last bit for a few values in 10^5
    # (log1p for 1 in 100), and the two backends must give identical features.
    @staticmethod
    def log(x: float) -> float:
        return float(_np_log(x))

    @staticmethod
    def log1p(x: float) -> float:
        return float(_np_log1p(x))

    @staticmethod
    def any(x: bool) -> bool:
        return bool(x)

    @staticmethod
    def not_(x: bool) -> bool:
        return not x

    @staticmethod
    def band(edges: Sequence[float], value: float) -> int:
        return bisect.bisect_right(edges, value)

    @staticmethod
    def take(table: Sequence[float], index: int) -> float:
        return float(table[index])

    @staticmethod
    def to_index(value: float, upper: int) -> int:
        return int(min(max(math.floor(value), 0), upper))


def _coded_lookup(
    fn: Callable[..., tuple[float, ...]],
    columns: Sequence[Coded],
    width: int,
    args: tuple[Any, ...],
) -> tuple[FloatArray, ...]:
    """:meth:`ArrayOps.lookup` of :class:`Coded` columns: once per distinct combination of codes."""
    sizes = [len(column.uniques) for column in columns]
    if math.prod(sizes) >= 1 << 62:  # the combined code would overflow: tuples, row by row
        plain = [column.decoded() for column in columns]
        found: tuple[FloatArray, ...] = ArrayOps.lookup(fn, plain, width, *args)
        return found
    key = np.zeros(len(columns[0]), np.int64)
    for column, size in zip(columns, sizes, strict=True):
        key *= size
        key += column.codes
    distinct, inverse = np.unique(key, return_inverse=True)
    parts: list[list[Any]] = []
    rest = distinct
    for column, size in zip(reversed(columns), reversed(sizes), strict=True):
        rest, code = np.divmod(rest, size)
        uniques = column.uniques
        parts.append([uniques[i] for i in code.tolist()])
    parts.reverse()
    table = np.array([fn(*row, *args) for row in zip(*parts, strict=True)], dtype=np.float64)
    return tuple(table.reshape(len(distinct), width)[inverse.reshape(-1)].T)


def _factorize(values: Any) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """(codes, distinct values): ``values[i] == distinct[codes[i]]``, first-seen order.

    A :class:`Coded` column is already numbered (its values need not be distinct).
    """
    if isinstance(values, Coded):
        return values.codes, values.uniques
    index: dict[Any, int] = {}
    try:
        codes = [index.setdefault(value, len(index)) for value in values]
    except TypeError:  # an unhashable value: number them one by one
        return np.arange(len(values), dtype=np.intp), list(values)
    return np.array(codes, dtype=np.intp), list(index)


_NO_CONTEXT = contextlib.nullcontext()
_PLAIN_NUMBERS = frozenset({int, float, type(None)})


class Ops(Protocol):
    """What the rules and features may use; values are arrays or scalars, hence ``Any``."""

    scalar: bool

    def floats(self, values: Any) -> Any: ...
    def length(self, values: Any) -> int: ...
    def full(self, n: int, value: Any) -> Any: ...
    def derive(
        self,
        fn: Callable[..., tuple[Any, ...]],
        values: Any,
        dtypes: Sequence[type],
        *args: Any,
        many: Callable[..., Any] | None = None,
    ) -> tuple[Any, ...]: ...
    def lookup(
        self,
        fn: Callable[..., tuple[float, ...]],
        columns: Sequence[Any],
        width: int,
        *args: Any,
        many: Callable[..., Any] | None = None,
    ) -> Any: ...
    def quiet(self) -> Any: ...
    def isfinite(self, x: Any) -> Any: ...
    def where(self, cond: Any, a: Any, b: Any) -> Any: ...
    def clip(self, x: Any, lo: Any, hi: Any) -> Any: ...
    def minimum(self, a: Any, b: Any) -> Any: ...
    def maximum(self, a: Any, b: Any) -> Any: ...
    def floor(self, x: Any) -> Any: ...
    def round(self, x: Any) -> Any: ...
    def log(self, x: Any) -> Any: ...
    def log1p(self, x: Any) -> Any: ...
    def any(self, x: Any) -> bool: ...
    def not_(self, x: Any) -> Any: ...
    def band(self, edges: Sequence[float], values: Any) -> Any: ...
    def take(self, table: Sequence[float], index: Any) -> Any: ...
    def to_index(self, values: Any, upper: int) -> Any: ...


ARRAY: Ops = ArrayOps()  # type: ignore[assignment]
SCALAR: Ops = ScalarOps()
