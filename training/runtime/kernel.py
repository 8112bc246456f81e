"""The runtime kernel: a fitted model as plain arrays, and the one place for its maths.

A model is ``clip`` -> ``scale`` -> ``kmeans`` over a few learner features (see
:mod:`training.model.pipeline`, which fits it with scikit-learn). :class:`Kernel` holds what
that pipeline learned (clip bounds, mean and scale, the K-Means centres) with the public id and
macro-segment of each centre and the frozen cleaning rules and peer tables, and computes, with
numpy alone:

* the distance of every learner to every centre (:meth:`Kernel.distances`),
* the nearest centre, the runner-up and the margin between them, for many learners at once
  (:meth:`Kernel.nearest`) or for one learner on plain Python floats
  (:meth:`Kernel.nearest_one`, where numpy's per-call cost would outweigh the maths),
* how confident a placement is: the relative margin ``(d2 - d1) / d2`` (:func:`relative_margin`;
  0 when a learner is as near the runner-up as its own centre, towards 1 deep inside its segment)
  and ``"low"`` below the threshold learned at training (:meth:`Kernel.confidence`).

Both paths give the same centres: on a tie the lower centre index wins. The document form
(``segmenter.json``, :meth:`Kernel.from_dict` / :meth:`~Kernel.to_dict`)
is what Spark executors and other languages read; the service builds the same object from the
fitted pipeline itself and checks the two against each other.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from training.runtime.cleaning import CleaningRules, CleanRows, apply_rules
from training.runtime.features import (
    FEATURE_COLUMNS,
    FeatureTables,
    clean_columns,
    compute_features,
)
from training.runtime.ops import ARRAY

__all__ = ["KERNEL_FORMAT", "Kernel", "Nearest", "relative_margin"]

FloatMatrix = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Format of ``segmenter.json``; a model folder of another format is refused by name.
KERNEL_FORMAT = "learnseg.segmenter/5"
#: Rows per block of :meth:`Kernel.distances` (bounds its n x k x d temporary).
_BLOCK_ROWS = 1 << 15


@dataclass(frozen=True, slots=True)
class Nearest:
    """Nearest and runner-up centre of each learner (row i = learner i).

    ``runner_up`` and ``runner_up_distance`` are None when the model has a single centre.
    """

    nearest: IntArray
    distance: FloatMatrix
    runner_up: IntArray | None
    runner_up_distance: FloatMatrix | None

    @property
    def margin(self) -> FloatMatrix | None:
        """How much farther the runner-up is than the nearest centre (scaled units)."""
        if self.runner_up_distance is None:
            return None
        out: FloatMatrix = self.runner_up_distance - self.distance
        return out

    @property
    def relative_margin(self) -> FloatMatrix | None:
        """:func:`relative_margin` of every learner (None when the model has a single centre)."""
        if self.runner_up_distance is None:
            return None
        out: FloatMatrix = relative_margin(self.distance, self.runner_up_distance)
        return out


#: The two confidence levels of a placement.
HIGH, LOW = "high", "low"


def relative_margin(nearest: Any, runner_up: Any) -> Any:
    """``(runner_up - nearest) / runner_up``: one learner's floats, or arrays of many.

    0 for a learner exactly between two centres (and for one sitting on both), up to 1 for one
    on its own centre. Plain floats stay plain Python (the one-learner path).
    """
    if isinstance(runner_up, float):
        return (runner_up - nearest) / runner_up if runner_up > 0 else 0.0
    gap = np.asarray(runner_up, np.float64) - nearest
    return np.divide(gap, runner_up, out=np.zeros_like(gap), where=np.asarray(runner_up) > 0)


@dataclass(frozen=True)
class Kernel:
    """The fitted model as plain arrays: reproduces the pipeline's labels with numpy alone.

    Attributes
    ----------
    features : tuple of str
        Feature names, in matrix column order (a subset of ``FEATURE_COLUMNS``).
    lower, upper, mean, scale : ndarray of shape (n_features,)
        Clip bounds and standardisation (a zero scale is stored as 1, as scikit-learn does).
    centers : ndarray of shape (k, n_features)
        K-Means centres in the scaled space, in K-Means' own order.
    segment_ids : ndarray of shape (k,)
        The public id of each centre (stable across retrains).
    coarse : ndarray of shape (k,)
        The coarse (macro) segment of each centre.
    rules, tables
        The frozen cleaning rules and peer tables.
    confidence_threshold : float
        A placement whose relative margin is below this is ``"low"`` confidence (learned at
        training: a low quantile of the training learners' relative margins).
    """

    features: tuple[str, ...]
    lower: FloatMatrix
    upper: FloatMatrix
    mean: FloatMatrix
    scale: FloatMatrix
    centers: FloatMatrix
    segment_ids: IntArray
    coarse: IntArray
    rules: CleaningRules
    tables: FeatureTables
    confidence_threshold: float
    # The same figures as Python lists, for the one-learner path.
    _bounds: list[tuple[float, float, float, float]] = field(init=False, repr=False)
    _center_rows: list[list[float]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [name for name in self.features if name not in FEATURE_COLUMNS]
        if unknown:
            raise ValueError(f"Unknown cluster features: {', '.join(unknown)}.")
        d = len(self.features)
        for name in ("lower", "upper", "mean", "scale"):
            if getattr(self, name).shape != (d,):
                raise ValueError(
                    f"The model's {name} has {getattr(self, name).shape}; need ({d},)."
                )
        if self.centers.ndim != 2 or self.centers.shape[1] != d or self.centers.shape[0] < 1:
            raise ValueError(f"The model's centres have shape {self.centers.shape}; need (k, {d}).")
        k = self.centers.shape[0]
        if self.segment_ids.shape != (k,) or self.coarse.shape != (k,):
            raise ValueError("The model needs one segment id and one coarse id per centre.")
        bounds = list(
            zip(
                self.lower.tolist(),
                self.upper.tolist(),
                self.mean.tolist(),
                self.scale.tolist(),
                strict=True,
            )
        )
        object.__setattr__(self, "_bounds", bounds)
        object.__setattr__(self, "_center_rows", self.centers.tolist())

    @property
    def k(self) -> int:
        return int(self.centers.shape[0])

    # ------------------------------------------------------------------------ many learners
    def featurize(
        self,
        columns: Mapping[str, Any],
        extra: Sequence[str] = (),
        history: Mapping[str, Any] | None = None,
    ) -> tuple[CleanRows, dict[str, Any]]:
        """Clean raw columns (``RAW_FIELDS``, n values each) and compute the model's features.

        ``extra`` names features wanted besides the model's (the fallback flags the service's
        warnings read); ``history`` may hold ``n_records`` and ``ctc_growth`` columns (learners
        collapsed from several rows; by default one record, no growth). Returns the cleaned rows
        and the feature columns.
        """
        clean = apply_rules(columns, self.rules, ARRAY)
        names = tuple(dict.fromkeys((*self.features, *extra)))
        cleaned = clean_columns(clean)
        if history is not None:
            cleaned.update(history)
        return clean, compute_features(cleaned, self.tables, ARRAY, names)

    def matrix(self, features: Mapping[str, Any]) -> FloatMatrix:
        """Stack feature columns (name -> array of n) into the (n, n_features) model matrix."""
        return np.column_stack([np.asarray(features[name], np.float64) for name in self.features])

    def scaled(self, X: FloatMatrix) -> FloatMatrix:
        """Clip and standardise a (n, n_features) matrix."""
        out: FloatMatrix = (np.clip(X, self.lower, self.upper) - self.mean) / self.scale
        return out

    def distances(self, X: FloatMatrix) -> FloatMatrix:
        """Euclidean distances (n, k) from each learner to each centre, in the scaled space.

        Computed from the differences (not the expanded square, so never negative), with the
        squares summed feature by feature in order: the same operations, in the same order, as
        the one-learner path, so both give the same bits (``math.dist`` and ``einsum`` do not).
        """
        # C order whatever X's: einsum's summation order follows the layout, and a Fortran-ordered
        # matrix (a DataFrame's to_numpy) would differ from a column_stack in the last bit.
        z = np.ascontiguousarray(self.scaled(np.asarray(X, np.float64)))
        out: FloatMatrix = np.empty((z.shape[0], self.k), np.float64)
        for start in range(0, z.shape[0], _BLOCK_ROWS):
            diff = z[start : start + _BLOCK_ROWS, None, :] - self.centers[None, :, :]
            square = diff * diff
            total = square[..., 0].copy()
            for j in range(1, square.shape[2]):
                total += square[..., j]
            out[start : start + _BLOCK_ROWS] = np.sqrt(total)
        return out

    def nearest(self, X: FloatMatrix) -> Nearest:
        """Nearest and runner-up centre of each row of X (n, n_features).

        A stable sort: on a tie the lower centre index wins, as on the one-learner path.
        """
        distances = self.distances(X)
        order = np.argsort(distances, axis=1, kind="stable")
        rows = np.arange(distances.shape[0])
        nearest = order[:, 0]
        if self.k == 1:
            return Nearest(nearest, distances[rows, nearest], None, None)
        runner = order[:, 1]
        return Nearest(nearest, distances[rows, nearest], runner, distances[rows, runner])

    def assign(self, X: FloatMatrix) -> IntArray:
        """Index of the nearest centre for each row of X (n, n_features).

        The first of equal distances, as :meth:`nearest`'s stable sort (without sorting).
        """
        out: IntArray = np.argmin(self.distances(X), axis=1)
        return out

    def confidence(self, relative: Any) -> Any:
        """``"low"`` below the model's threshold, else ``"high"``: one value or an array."""
        if isinstance(relative, float):
            return LOW if relative < self.confidence_threshold else HIGH
        return np.where(np.asarray(relative) < self.confidence_threshold, LOW, HIGH)

    # -------------------------------------------------------------------------- one learner
    def nearest_one(self, values: Sequence[float]) -> tuple[int, float, int, float]:
        """(nearest, its distance, runner-up, its distance) of one learner, on Python floats.

        ``values`` are the learner's model features in order. The runner-up is ``-1`` (with
        distance NaN) when the model has a single centre.
        """
        z = [
            ((lo if v < lo else hi if v > hi else v) - mu) / sd
            for v, (lo, hi, mu, sd) in zip(values, self._bounds, strict=True)
        ]
        distances = [math.sqrt(_sum_of_squares(z, c)) for c in self._center_rows]
        best, second = 0, -1
        for i in range(1, len(distances)):
            d = distances[i]
            if d < distances[best]:
                best, second = i, best
            elif second < 0 or d < distances[second]:
                second = i
        return best, distances[best], second, distances[second] if second >= 0 else math.nan

    # ------------------------------------------------------------------------------ sources
    @classmethod
    def from_pipeline(
        cls,
        pipeline: Any,
        features: Sequence[str],
        *,
        segment_ids: Sequence[int],
        coarse: Sequence[int],
        rules: CleaningRules,
        tables: FeatureTables,
        confidence_threshold: float = 0.0,
    ) -> Kernel:
        """The figures a fitted ``clip`` -> ``scale`` -> ``kmeans`` pipeline learned.

        Reads the fitted attributes only (``lower_``/``upper_``, ``mean_``/``scale_``,
        ``cluster_centers_``): nothing of scikit-learn is imported here. ``segment_ids`` and
        ``coarse`` are per centre, in K-Means' order.
        """
        steps = pipeline.named_steps
        clip, scaler, kmeans = steps["clip"], steps["scale"], steps["kmeans"]
        return cls(
            features=tuple(features),
            lower=np.array(clip.lower_, np.float64),
            upper=np.array(clip.upper_, np.float64),
            mean=np.array(scaler.mean_, np.float64),
            scale=np.array(scaler.scale_, np.float64),
            centers=np.array(kmeans.cluster_centers_, np.float64),
            segment_ids=np.array(segment_ids, np.intp),
            coarse=np.array(coarse, np.intp),
            rules=rules,
            tables=tables,
            confidence_threshold=float(confidence_threshold),
        )

    def with_confidence_threshold(self, threshold: float) -> Kernel:
        """The same model with another low-confidence threshold."""
        return dataclasses.replace(self, confidence_threshold=float(threshold))

    # ----------------------------------------------------------------------------- document
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Kernel:
        """Read the ``segmenter.json`` document (refused by name when of another format)."""
        if data.get("format") != KERNEL_FORMAT:
            raise ValueError(
                f"segmenter.json has format {data.get('format')!r}; this learnseg reads "
                f"{KERNEL_FORMAT!r}."
            )
        pre = data["preprocessing"]
        return cls(
            features=tuple(data["features"]),
            lower=np.asarray(pre["clip_lower"], np.float64),
            upper=np.asarray(pre["clip_upper"], np.float64),
            mean=np.asarray(pre["mean"], np.float64),
            scale=np.asarray(pre["scale"], np.float64),
            centers=np.asarray(data["kmeans"]["centers"], np.float64),
            segment_ids=np.asarray(data["kmeans"]["segment_ids"], np.intp),
            coarse=np.asarray(data["kmeans"]["coarse"], np.intp),
            rules=CleaningRules.from_dict(data["cleaning_rules"]),
            tables=FeatureTables.from_dict(data["feature_tables"]),
            confidence_threshold=float(data["confidence"]["low_below_relative_margin"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``segmenter.json`` document (plain JSON values)."""
        return {
            "format": KERNEL_FORMAT,
            "features": list(self.features),
            "preprocessing": {
                "clip_lower": self.lower.tolist(),
                "clip_upper": self.upper.tolist(),
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
            },
            "kmeans": {
                "k": self.k,
                "centers": self.centers.tolist(),
                "segment_ids": self.segment_ids.tolist(),
                "coarse": self.coarse.tolist(),
            },
            "confidence": {"low_below_relative_margin": self.confidence_threshold},
            "cleaning_rules": self.rules.to_dict(),
            "feature_tables": self.tables.to_dict(),
        }


def _sum_of_squares(a: Sequence[float], b: Sequence[float]) -> float:
    """Sum of squared differences, feature by feature in order (as :meth:`distances` adds)."""
    total = 0.0
    for x, y in zip(a, b, strict=True):
        t = x - y
        total += t * t
    return total
