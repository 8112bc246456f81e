"""The allow-list unpickler: a fitted pipeline loads, anything that could run code does not."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from joblib.numpy_pickle import NumpyUnpickler

from service.unpickle import ALLOWED_GLOBALS, UnsafePickleError, load_allowed
from training.run import TrainingResult


def _dumped(obj: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


class _Command:
    """Unpickling this runs ``command`` (through whatever callable ``runner`` is)."""

    def __init__(self, runner: Any, command: Any) -> None:
        self.runner, self.command = runner, command

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.runner, (self.command,))


def test_a_trained_bundle_loads_and_predicts_as_joblib_does(trained_small: TrainingResult) -> None:
    data = (trained_small.folder / "segmenter.joblib").read_bytes()
    ours, theirs = load_allowed(data), joblib.load(io.BytesIO(data))
    assert ours["features"] == theirs["features"]
    assert ours["segment_ids"] == theirs["segment_ids"]
    x = np.random.default_rng(0).normal(size=(500, len(ours["features"]))) * 3 + 5
    np.testing.assert_array_equal(ours["pipeline"].predict(x), theirs["pipeline"].predict(x))


def test_the_allow_list_is_what_a_trained_bundle_names(trained_small: TrainingResult) -> None:
    """Every global of a real bundle is allowed, and the list holds nothing a bundle never
    names but the numpy aliases of the other major version (numpy.core / numpy._core)."""
    named: set[tuple[str, str]] = set()

    class Recording(NumpyUnpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> Any:
            named.add((module, name))
            return super().find_class(module, name)

    data = (trained_small.folder / "segmenter.joblib").read_bytes()
    Recording("segmenter.joblib", io.BytesIO(data), True).load()
    assert named <= ALLOWED_GLOBALS
    unused = {m.replace("numpy._core", "numpy.core") for m, _ in ALLOWED_GLOBALS - named}
    assert unused <= {"numpy.core.multiarray"}, ALLOWED_GLOBALS - named


@pytest.mark.parametrize(
    ("runner", "shown"),
    [
        (os.system, "posix.system"),
        (subprocess.check_call, "subprocess.check_call"),
        (eval, "builtins.eval"),
        (getattr, "builtins.getattr"),
    ],
)
def test_a_callable_outside_the_list_is_refused_before_it_runs(
    tmp_path: Path, runner: Any, shown: str
) -> None:
    marker = tmp_path / "ran"
    command: Any = f"touch {marker}"
    if runner is eval:
        command = f"open({str(marker)!r}, 'w')"
    if runner is subprocess.check_call:
        command = ["touch", str(marker)]
    if runner is getattr:
        command = "anything"  # the first step of a getattr chain: it must not even be looked up
    with pytest.raises(UnsafePickleError, match=f"names {shown}, which a fitted pipeline"):
        load_allowed(_dumped({"pipeline": _Command(runner, command)}))
    assert not marker.exists()


def test_an_object_array_is_refused_before_joblib_reads_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    payload = np.array([_Command(os.system, f"touch {marker}"), 1], dtype=object)
    with pytest.raises(UnsafePickleError, match="an array of Python objects"):
        load_allowed(_dumped({"big": np.zeros(10_000), "payload": payload}))
    assert not marker.exists()


def test_plain_numbers_and_arrays_load() -> None:
    bundle = {"features": ["a", "b"], "segment_ids": [1, 0], "x": np.arange(6.0).reshape(2, 3)}
    loaded = load_allowed(_dumped(bundle))
    assert loaded["features"] == ["a", "b"] and loaded["segment_ids"] == [1, 0]
    np.testing.assert_array_equal(loaded["x"], bundle["x"])


def test_bytes_that_are_not_a_pickle_fail_as_an_unpickling_error() -> None:
    for junk in (b"not a pickle at all", b"", b"\x80\x04\x95"):
        with pytest.raises(pickle.UnpicklingError, match="not a readable joblib pickle"):
            load_allowed(junk)
