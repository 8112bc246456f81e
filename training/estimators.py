"""The one custom scikit-learn estimator of the model (apart, so the service never imports it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

__all__ = ["QuantileClipper"]


class QuantileClipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Clip each column to its [lower_quantile, upper_quantile] learned at fit time.

    Heavy tails (company size, CTC growth, pay ratios) would otherwise stretch the scaled space
    so that a handful of learners decide where the centres go. ``FunctionTransformer`` cannot learn
    the bounds, hence this small estimator, written by scikit-learn's rules.
    """

    def __init__(self, lower_quantile: float = 0.01, upper_quantile: float = 0.99) -> None:
        self.lower_quantile = lower_quantile
        self.upper_quantile = upper_quantile

    def fit(self, X: Any, y: Any = None) -> QuantileClipper:
        data = np.asarray(X, dtype=np.float64)
        self.lower_ = np.quantile(data, self.lower_quantile, axis=0)
        self.upper_ = np.quantile(data, self.upper_quantile, axis=0)
        self.n_features_in_ = data.shape[1]
        return self

    def transform(self, X: Any) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.clip(np.asarray(X, np.float64), self.lower_, self.upper_)
        return out
