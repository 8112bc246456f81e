"""Unpickling ``segmenter.joblib`` through an allow-list of the classes a fitted pipeline holds.

A pickle can run any code while it is read: a ``__reduce__`` names a function (``os.system``)
and its arguments, and the unpickler calls it. The manifest's SHA-256 proves that the file is the
one training wrote, not that whoever wrote the folder can be trusted. So every global a pickle
names is looked up here first: the scikit-learn estimators of the model, the project's own
estimator, and what numpy and joblib need to rebuild arrays. Anything else is refused before it
is imported or called, with :class:`UnsafePickleError`.

joblib stores large arrays after the pickle stream and reads an *object* array with a plain,
unrestricted ``pickle.load``; such arrays are refused too (a fitted pipeline holds numbers only).
"""

from __future__ import annotations

import io
import pickle
from typing import Any, ClassVar

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

from training.runtime.artifacts import PIPELINE_JOBLIB

__all__ = [
    "ALLOWED_GLOBALS",
    "AllowListUnpickler",
    "UnsafePickleError",
    "load_allowed",
]

#: (module, name) of every global a fitted ``clip -> scale -> kmeans`` pipeline may name.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        # the model's estimators
        ("sklearn.pipeline", "Pipeline"),
        ("sklearn.preprocessing._data", "StandardScaler"),
        ("sklearn.cluster._kmeans", "KMeans"),
        ("training.estimators", "QuantileClipper"),
        # numpy arrays, scalars and dtypes (numpy 2 moved numpy.core to numpy._core)
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        # joblib's wrapper of an array stored after the pickle stream
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    }
)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that names something outside the allow-list; nothing of it was run."""


class AllowListUnpickler(NumpyUnpickler):  # type: ignore[misc]
    """joblib's unpickler, resolving only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{PIPELINE_JOBLIB} names {module}.{name}, which a fitted pipeline does not "
                "hold; it is refused unread"
            )
        return super().find_class(module, name)

    def load_build(self) -> None:
        # BUILD gives joblib's array wrapper its dtype; an object dtype would be read by an
        # unrestricted pickle.load, so it is refused before joblib reads it.
        instance, state = self.stack[-2], self.stack[-1]
        if isinstance(instance, NumpyArrayWrapper):
            dtype = state.get("dtype") if isinstance(state, dict) else None
            if not isinstance(dtype, np.dtype) or dtype.hasobject:
                raise UnsafePickleError(
                    f"{PIPELINE_JOBLIB} holds an array of Python objects, which a fitted pipeline "
                    "does not; it is refused unread"
                )
        super().load_build()

    dispatch: ClassVar[dict[int, Any]] = {
        **NumpyUnpickler.dispatch,
        pickle.BUILD[0]: load_build,
    }


def load_allowed(data: bytes) -> Any:
    """Unpickle joblib bytes (uncompressed, as training writes them) through the allow-list.

    Raises
    ------
    UnsafePickleError
        The bytes name a global outside :data:`ALLOWED_GLOBALS`, or hold an object array.
    pickle.UnpicklingError
        The bytes are not a readable joblib pickle.
    """
    unpickler = AllowListUnpickler(PIPELINE_JOBLIB, io.BytesIO(data), True)
    try:
        return unpickler.load()
    except pickle.UnpicklingError:
        raise
    except Exception as exc:  # the pure-Python unpickler fails on junk with KeyError, EOFError...
        raise pickle.UnpicklingError(
            f"{PIPELINE_JOBLIB} is not a readable joblib pickle ({type(exc).__name__})"
        ) from exc
