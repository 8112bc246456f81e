"""The segmentation model: preprocessing + K-Means, and its engine-free (numpy/JSON) twin.

Training fits a scikit-learn :class:`~sklearn.pipeline.Pipeline` (``clip`` -> ``scale`` ->
``kmeans``) over the learner features named in ``cluster_features``. :func:`export_segmenter`
writes everything that pipeline learned, plus the frozen cleaning rules and peer tables, into one
JSON document (``segmenter.json``); :class:`EngineFreeSegmenter` reads that document back and
reproduces the pipeline's labels with numpy alone, for the service's hot path.

This module imports scikit-learn only inside the training-side functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training.cleaning import CleaningRules
from training.features import FEATURE_COLUMNS, FeatureTables

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FloatMatrix = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

SEGMENTER_FORMAT = "learnseg.segmenter/1"


def build_pipeline(k: int, *, seed: int, n_init: int) -> Pipeline:
    """``clip`` (training quantiles) -> ``scale`` (StandardScaler) -> ``kmeans`` (seeded)."""
    from sklearn.cluster import KMeans
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from training.estimators import QuantileClipper

    return Pipeline(
        [
            ("clip", QuantileClipper()),
            ("scale", StandardScaler()),
            ("kmeans", KMeans(n_clusters=k, n_init=n_init, random_state=seed)),
        ]
    )


def standard_scale(mean: FloatMatrix, var: FloatMatrix, n_samples: int) -> FloatMatrix:
    """``StandardScaler.scale_`` from a mean and a population variance: sqrt(var), and 1 for a
    feature that is constant up to rounding (scikit-learn's own rule)."""
    from sklearn.preprocessing._data import _handle_zeros_in_scale, _is_constant_feature

    mean = np.asarray(mean, np.float64)
    var = np.asarray(var, np.float64)
    constant = _is_constant_feature(var, mean, n_samples)
    out: FloatMatrix = _handle_zeros_in_scale(np.sqrt(var), copy=False, constant_mask=constant)
    return out


def fitted_pipeline(
    *,
    lower: FloatMatrix,
    upper: FloatMatrix,
    mean: FloatMatrix,
    var: FloatMatrix,
    n_samples: int,
    centers: FloatMatrix,
    inertia: float,
    n_iter: int,
    seed: int,
    n_init: int,
) -> Pipeline:
    """The pipeline of :func:`build_pipeline`, fitted from parameters learned elsewhere (Spark).

    Every fitted attribute that ``transform``/``predict`` read is set exactly as ``fit`` would
    set it: the clip bounds, the scaler's mean, variance and scale (1 for a constant feature, by
    scikit-learn's own rule) and the K-Means centres. ``labels_`` of the training rows is left
    out: it is not part of the model and would grow with the data.

    Parameters
    ----------
    lower, upper, mean, var : ndarray of shape (n_features,)
        Clip bounds, and the mean and population variance of the clipped features.
    n_samples : int
        Rows the scaler saw.
    centers : ndarray of shape (k, n_features)
        K-Means centres in the scaled space.
    inertia : float
        Within-cluster sum of squares of the fit.
    n_iter : int
        Iterations the fit ran.
    seed, n_init : int
        Recorded as the K-Means parameters.
    """
    pipeline = build_pipeline(int(centers.shape[0]), seed=seed, n_init=n_init)
    n_features = int(centers.shape[1])
    clip, scaler, kmeans = (step for _, step in pipeline.steps)
    clip.lower_ = np.asarray(lower, np.float64)
    clip.upper_ = np.asarray(upper, np.float64)
    clip.n_features_in_ = n_features
    scaler.mean_ = np.asarray(mean, np.float64)
    scaler.var_ = np.asarray(var, np.float64)
    scaler.n_samples_seen_ = int(n_samples)
    scaler.scale_ = standard_scale(scaler.mean_, scaler.var_, int(n_samples))
    scaler.n_features_in_ = n_features
    kmeans.cluster_centers_ = np.ascontiguousarray(centers, np.float64)
    kmeans.inertia_ = float(inertia)
    kmeans.n_iter_ = int(n_iter)
    kmeans.n_features_in_ = n_features
    kmeans._n_features_out = int(centers.shape[0])
    kmeans._n_threads = 1
    return pipeline


def preprocess(pipeline: Pipeline, X: FloatMatrix) -> FloatMatrix:
    """The scaled matrix K-Means sees (every step but the last)."""
    out: FloatMatrix = pipeline[:-1].transform(X)
    return out


@dataclass(frozen=True)
class EngineFreeSegmenter:
    """The fitted model as plain arrays: reproduces the pipeline's labels with numpy alone.

    Attributes
    ----------
    features : tuple of str
        Feature names, in matrix column order (a subset of ``FEATURE_COLUMNS``).
    lower, upper, mean, scale : ndarray of shape (n_features,)
        Clip bounds and standardisation.
    centers : ndarray of shape (k, n_features)
        K-Means centres in the scaled space.
    segment_ids : ndarray of shape (k,)
        The public id of each centre (stable across retrains).
    coarse : ndarray of shape (k,)
        The coarse (macro) segment of each centre.
    rules, tables
        The frozen cleaning rules and peer tables.
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

    def scaled(self, X: FloatMatrix) -> FloatMatrix:
        """Clip and standardise a (n, n_features) matrix."""
        out: FloatMatrix = (np.clip(X, self.lower, self.upper) - self.mean) / self.scale
        return out

    def distances(self, X: FloatMatrix) -> FloatMatrix:
        """Euclidean distances (n, k) from each learner to each centre, in the scaled space."""
        z = self.scaled(X)
        sq = (
            np.einsum("ij,ij->i", z, z)[:, None]
            - 2.0 * z @ self.centers.T
            + np.einsum("ij,ij->i", self.centers, self.centers)[None, :]
        )
        out: FloatMatrix = np.sqrt(np.maximum(sq, 0.0))
        return out

    def assign(self, X: FloatMatrix) -> IntArray:
        """Index of the nearest centre for each row of X (n, n_features)."""
        out: IntArray = np.argmin(self.distances(X), axis=1)
        return out

    def matrix(self, features: Mapping[str, Any]) -> FloatMatrix:
        """Stack feature columns (name -> array of n) into the (n, n_features) model matrix."""
        return np.column_stack([np.asarray(features[name], np.float64) for name in self.features])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineFreeSegmenter:
        if data.get("format") != SEGMENTER_FORMAT:
            raise ValueError(
                f"segmenter.json has format {data.get('format')!r}; expected {SEGMENTER_FORMAT!r}."
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
        )


def export_segmenter(
    pipeline: Pipeline,
    features: Sequence[str],
    *,
    segment_ids: Sequence[int],
    coarse: Sequence[int],
    rules: CleaningRules,
    tables: FeatureTables,
) -> dict[str, Any]:
    """The engine-free description of a fitted pipeline (the ``segmenter.json`` document).

    Scales of zero-variance features are stored as 1 (as scikit-learn does), so the numpy path
    never divides by zero.
    """
    unknown = [name for name in features if name not in FEATURE_COLUMNS]
    if unknown:
        raise ValueError(f"Unknown cluster features: {', '.join(unknown)}.")
    clip = pipeline.named_steps["clip"]
    scaler = pipeline.named_steps["scale"]
    kmeans = pipeline.named_steps["kmeans"]
    return {
        "format": SEGMENTER_FORMAT,
        "features": list(features),
        "preprocessing": {
            "clip_lower": [float(x) for x in clip.lower_],
            "clip_upper": [float(x) for x in clip.upper_],
            "mean": [float(x) for x in scaler.mean_],
            "scale": [float(x) for x in scaler.scale_],
        },
        "kmeans": {
            "k": int(kmeans.n_clusters),
            "centers": [[float(x) for x in row] for row in kmeans.cluster_centers_],
            "segment_ids": [int(x) for x in segment_ids],
            "coarse": [int(x) for x in coarse],
        },
        "cleaning_rules": rules.to_dict(),
        "feature_tables": tables.to_dict(),
    }
