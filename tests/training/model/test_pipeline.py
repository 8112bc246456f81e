"""The model as scikit-learn builds it (training.model.pipeline, training.estimators): a pipeline
assembled from figures learned elsewhere (the Spark engine) transforms and predicts exactly as the
fitted one, the scale follows scikit-learn's zero-variance rule, and QuantileClipper keeps its
rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from training.estimators import QuantileClipper
from training.model.pipeline import build_pipeline, fitted_pipeline, preprocess, standard_scale


def test_fitted_pipeline_transforms_and_predicts_like_the_fitted_one() -> None:
    X, _ = make_blobs(n_samples=2_000, n_features=3, centers=4, random_state=0)
    X = np.column_stack([X, np.full(len(X), 2.0)])  # a constant feature: scale 1
    fitted = build_pipeline(4, seed=0, n_init=3).fit(X)
    clip, scaler, kmeans = (step for _, step in fitted.steps)
    # What the Spark engine learns and hands over, here read off the fitted pipeline.
    learned: dict[str, Any] = {
        "lower": clip.lower_,
        "upper": clip.upper_,
        "mean": scaler.mean_,
        "var": scaler.var_,
        "n_samples": scaler.n_samples_seen_,
        "centers": kmeans.cluster_centers_,
        "inertia": kmeans.inertia_,
        "n_iter": kmeans.n_iter_,
    }
    assembled = fitted_pipeline(**learned, seed=0, n_init=3)
    assert [(name, step.get_params()) for name, step in assembled.steps] == [
        (name, step.get_params()) for name, step in fitted.steps
    ]
    new = np.random.default_rng(1).normal(scale=10.0, size=(500, 4))  # clipped, off-centre
    for rows in (X, new):
        np.testing.assert_array_equal(preprocess(assembled, rows), preprocess(fitted, rows))
        np.testing.assert_array_equal(assembled.transform(rows), fitted.transform(rows))
        np.testing.assert_array_equal(assembled.predict(rows), fitted.predict(rows))
    np.testing.assert_array_equal(assembled.predict(X), kmeans.labels_)
    assert not hasattr(assembled[-1], "labels_")  # not part of the model


def test_standard_scale_follows_the_zero_variance_rule() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.normal(1.0, 3.0, 1_000), np.full(1_000, 0.1), rng.exponential(size=1_000)]
    )
    scaler = StandardScaler().fit(X)
    np.testing.assert_array_equal(
        standard_scale(scaler.mean_, scaler.var_, int(scaler.n_samples_seen_)), scaler.scale_
    )
    # Constant up to rounding (the variance of 1,000 values of 0.1) is constant: scale 1. A
    # small but real variance keeps its square root.
    scale = standard_scale(np.array([0.1, 0.1, 0.0]), np.array([1e-34, 1e-20, 0.0]), 1_000)
    np.testing.assert_array_equal(scale, [1.0, 1e-10, 1.0])


def test_quantile_clipper_learns_its_bounds_at_fit_and_only_there() -> None:
    X = np.random.default_rng(2).lognormal(size=(1_000, 2))
    clipper = QuantileClipper(lower_quantile=0.05, upper_quantile=0.95)
    assert clone(clipper).get_params() == {"lower_quantile": 0.05, "upper_quantile": 0.95}
    with pytest.raises(NotFittedError):
        check_is_fitted(clipper)  # nothing learned in __init__
    assert clipper.fit(X) is clipper
    np.testing.assert_array_equal(clipper.lower_, np.quantile(X, 0.05, axis=0))
    np.testing.assert_array_equal(clipper.upper_, np.quantile(X, 0.95, axis=0))
    assert clipper.n_features_in_ == 2
    out = clipper.transform(X)
    np.testing.assert_array_equal(out, np.clip(X, clipper.lower_, clipper.upper_))
    np.testing.assert_array_equal(out.min(axis=0), clipper.lower_)
    np.testing.assert_array_equal(out.max(axis=0), clipper.upper_)
    assert ((out == X).mean(axis=0) >= 0.9).all()  # the middle 90 % is left as it is
    assert clipper.get_feature_names_out(["ctc", "years"]).tolist() == ["ctc", "years"]
