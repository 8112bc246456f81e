"""The segmentation model as scikit-learn builds it: preprocessing + K-Means.

Training fits a scikit-learn :class:`~sklearn.pipeline.Pipeline` (``clip`` -> ``scale`` ->
``kmeans``) over the learner features named in ``cluster_features``; the Spark engine assembles
the same fitted pipeline from its own figures (:func:`fitted_pipeline`). Publishing
(:mod:`training.store.publish`) turns it into the runtime's
:class:`~training.runtime.kernel.Kernel` (``segmenter.json``), which reproduces
the pipeline's labels with numpy alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = [
    "build_pipeline",
    "fitted_pipeline",
    "preprocess",
    "standard_scale",
]

FloatMatrix = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


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
