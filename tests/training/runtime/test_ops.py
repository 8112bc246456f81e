"""The two backends of the rules and features (training.runtime.ops): numpy over columns and plain
Python over one learner give the same value for every operation, NaN and infinities included."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from training.runtime.ops import ARRAY, SCALAR, Coded, decoded

#: Halves (rounding), band edges, both infinities and NaN.
EDGY = [-math.inf, -2.5, -1.5, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 7.25, math.inf, math.nan]
EDGES = [0.0, 1.0, 2.0]
#: Each operation as (backend, value) -> result.
OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "round": lambda ops, x: ops.round(x),
    "floor": lambda ops, x: ops.floor(x),
    "clip": lambda ops, x: ops.clip(x, 0.0, 2.0),
    "minimum": lambda ops, x: ops.minimum(x, 1.0),
    "minimum of 1 and x": lambda ops, x: ops.minimum(1.0, x),
    "maximum": lambda ops, x: ops.maximum(x, 1.0),
    "maximum of 1 and x": lambda ops, x: ops.maximum(1.0, x),
    "band": lambda ops, x: ops.band(EDGES, x),
    "isfinite": lambda ops, x: ops.isfinite(x),
    "where": lambda ops, x: ops.where(ops.isfinite(x), x, -1.0),
}


def test_floats_reads_numbers_and_nothing_else_on_both_backends() -> None:
    """Text is parsed at the edges, never here: bools, strings, None and ints beyond float range
    are NaN; numpy scalars are numbers."""
    values = [1, 2.5, None, True, "3", 10**400, math.inf, np.int64(3), np.float32(1.5)]
    expected = [1.0, 2.5, math.nan, math.nan, math.nan, math.nan, math.inf, 3.0, 1.5]
    np.testing.assert_array_equal(ARRAY.floats(values), expected)
    np.testing.assert_array_equal([SCALAR.floats(v) for v in values], expected)
    assert all(type(SCALAR.floats(v)) is float for v in values)
    column = np.array([1.0, 2.0])
    assert ARRAY.floats(column) is column  # a float column is used as it is
    assert ARRAY.floats(np.array([1, 2], np.int32)).dtype == np.float64


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_elementwise_operations_agree_on_both_backends(name: str) -> None:
    call = OPERATIONS[name]
    with ARRAY.quiet():
        batch = call(ARRAY, np.array(EDGY))
    np.testing.assert_array_equal(batch, [call(SCALAR, x) for x in EDGY], err_msg=name)


def test_round_is_half_to_even_and_logs_are_bit_identical() -> None:
    halves = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]
    assert [SCALAR.round(x) for x in halves] == [-2.0, -2.0, 0.0, 0.0, 2.0, 2.0]
    np.testing.assert_array_equal(ARRAY.round(np.array(halves)), [-2, -2, 0, 0, 2, 2])
    # math.log differs from numpy's in the last bit now and then; the scalar backend uses numpy's.
    x = np.random.default_rng(0).uniform(1e3, 1e8, size=20_000)
    for name in ("log", "log1p"):
        scalar = np.array([getattr(SCALAR, name)(float(v)) for v in x])
        assert np.array_equal(getattr(ARRAY, name)(x), scalar), name


def test_to_index_floors_and_clamps_on_both_backends() -> None:
    values = [-3.0, 0.0, 0.2, 1.9, 3.0, 7.5]
    index = ARRAY.to_index(np.array(values), 3)
    assert index.dtype == np.intp and index.tolist() == [0, 0, 0, 1, 3, 3]
    assert [SCALAR.to_index(v, 3) for v in values] == [0, 0, 0, 1, 3, 3]
    table = [10.0, 20.0, 30.0, 40.0]
    assert ARRAY.take(table, index).tolist() == [SCALAR.take(table, int(i)) for i in index]


def test_derive_and_lookup_call_the_function_once_per_distinct_value() -> None:
    calls: list[Any] = []

    def describe(value: Any) -> tuple[Any, bool]:
        calls.append(value)
        return (f"<{value}>", value is None)

    text, missing = ARRAY.derive(describe, ["a", "b", "a", None, "b"], (object, bool))
    assert calls == ["a", "b", None]  # first-seen order
    assert text.tolist() == ["<a>", "<b>", "<a>", "<None>", "<b>"]
    assert missing.dtype == np.bool_ and missing.tolist() == [False, False, False, True, False]
    assert SCALAR.derive(describe, "a", (object, bool)) == ("<a>", False)

    calls.clear()
    unhashable = [["u"], ["u"]]  # numbered one by one: no error, one call each
    assert ARRAY.derive(describe, unhashable, (object, bool))[0].tolist() == ["<['u']>"] * 2
    assert len(calls) == 2
    empty = ARRAY.derive(describe, [], (object, bool))
    assert [column.dtype for column in empty] == [np.dtype(object), np.dtype(bool)]
    assert [len(column) for column in empty] == [0, 0]

    pairs: list[tuple[str, str]] = []

    def stats(company: str, title: str) -> tuple[float, float]:
        pairs.append((company, title))
        return (float(len(company)), float(len(title)))

    sizes, lengths = ARRAY.lookup(stats, [["a", "bb", "a"], ["x", "yy", "x"]], 2)
    assert pairs == [("a", "x"), ("bb", "yy")]
    assert sizes.tolist() == [1.0, 2.0, 1.0] and lengths.tolist() == [1.0, 2.0, 1.0]
    assert SCALAR.lookup(stats, ["bb", "x"], 2) == (2.0, 1.0)


def test_coded_columns_derive_and_look_up_as_plain_columns() -> None:
    """A column given as codes (uniques repeated, None among them) gives the same columns; its
    text results stay coded, with the same codes."""
    values = ["b", None, "a", "b", "c", None, "a"]
    coded = Coded(np.array([0, 1, 2, 0, 3, 4, 2], np.intp), ["b", None, "a", "c", None])

    def describe(value: Any) -> tuple[Any, bool]:
        return (None if value is None else value.upper()), value is None

    plain = ARRAY.derive(describe, np.array(values, dtype=object), (object, bool))
    by_code = ARRAY.derive(describe, coded, (object, bool))
    assert isinstance(by_code[0], Coded)
    assert by_code[0].tolist() == plain[0].tolist() == decoded(by_code[0]).tolist()
    np.testing.assert_array_equal(by_code[1], plain[1])
    assert coded[2] == "a" and coded[np.array([4, 1])].tolist() == ["c", None]

    def size(*row: Any) -> tuple[float, float]:
        return float(sum(len(v) for v in row if v)), float(len(row))

    other = Coded(np.array([1, 0, 0, 1, 1, 0, 0], np.intp), ["x", "yy"])
    for columns in ([coded], [coded, other], [other, coded, coded]):
        got = ARRAY.lookup(size, columns, 2)
        want = ARRAY.lookup(size, [c.decoded() for c in columns], 2)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
