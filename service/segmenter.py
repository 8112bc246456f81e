"""Segmenter: assigns learners to segments from a verified model folder, numpy/Python only.

Nothing here imports pandas, scikit-learn or joblib: the model is read from ``segmenter.json``
(engine-free), the profiles from ``profiles.json``, and the cleaning rules and features are the
training code's own (``training.cleaning`` / ``training.features``), run on the scalar backend for
one learner and on the numpy backend for a batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.artifacts import resolve_model, verify_model
from training.cleaning import apply_rules, describe_touches
from training.features import (
    FEATURE_COLUMNS,
    clean_columns,
    compute_features,
    fallback_warnings,
    learner_features,
)
from training.model import EngineFreeSegmenter
from training.ops import ARRAY

RAW_FIELDS = ("company_hash", "orgyear", "ctc", "job_position", "ctc_updated_year")


@dataclass(slots=True)
class Assignment:
    """One learner's segment, why, and what was cleaned or fell back on the way."""

    segment_id: int
    segment_name: str
    coarse_segment_id: int
    distance: float
    runner_up_id: int | None
    runner_up_distance: float | None
    margin: float | None
    features: dict[str, float]
    warnings: list[str]
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "segment_name": self.segment_name,
            "coarse_segment_id": self.coarse_segment_id,
            "distance": self.distance,
            "runner_up": None
            if self.runner_up_id is None
            else {"segment_id": self.runner_up_id, "distance": self.runner_up_distance},
            "margin": self.margin,
            "features": self.features,
            "warnings": self.warnings,
            "model_version": self.model_version,
        }


@dataclass
class Segmenter:
    """A loaded, verified model: assignment, profiles and model information."""

    folder: Path
    manifest: dict[str, Any]
    model: EngineFreeSegmenter
    profiles: list[dict[str, Any]]
    coarse_profiles: list[dict[str, Any]]
    _names: dict[int, str] = field(init=False, repr=False)
    _scalar: tuple[Any, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._names = {int(p["id"]): str(p["name"]) for p in self.profiles}
        m = self.model
        self._scalar = (
            m.lower.tolist(),
            m.upper.tolist(),
            m.mean.tolist(),
            m.scale.tolist(),
            m.centers.tolist(),
            m.segment_ids.tolist(),
            m.coarse.tolist(),
        )

    # ------------------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model_dir: Path, version: str | None = None) -> Segmenter:
        """Resolve (``LATEST`` unless ``version``), verify every hash and versions, and load.

        Raises ``training.artifacts.ArtifactError`` with one clear sentence when there is no
        model, a file does not match its SHA-256, or the libraries differ in major.minor.
        """
        folder = resolve_model(model_dir, version)
        manifest = verify_model(folder)
        doc = json.loads((folder / "segmenter.json").read_text(encoding="utf-8"))
        profiles = json.loads((folder / "profiles.json").read_text(encoding="utf-8"))
        return cls(
            folder=folder,
            manifest=manifest,
            model=EngineFreeSegmenter.from_dict(doc),
            profiles=list(profiles["segments"]),
            coarse_profiles=list(profiles.get("coarse", [])),
        )

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def k(self) -> int:
        return len(self.profiles)

    def info(self) -> dict[str, Any]:
        """Version, k, metrics, when it was trained, on what data, with which libraries."""
        m = self.manifest
        comparison = m["metrics"]["comparison"]
        return {
            "version": self.version,
            "k": self.k,
            "k_choice": m["k_choice"],
            "features": list(self.model.features),
            "trained_at": m["created_at"],
            "reference_year": m["reference_year"],
            "data": m["data"],
            "metrics": {
                "kmeans": m["metrics"]["kmeans"],
                "hierarchical": m["metrics"]["hierarchical"],
                "comparison": {
                    k: comparison[k] for k in ("ari", "nmi", "silhouette_a", "silhouette_b")
                },
                "sweep": m["metrics"]["sweep"],
            },
            "library_versions": m["versions"],
        }

    # --------------------------------------------------------------------------- assignment
    def assign(self, learner: Mapping[str, Any]) -> Assignment:
        """One learner (raw field names) -> its segment, on the scalar path (~tens of µs)."""
        got = learner_features(learner, self.model.rules, self.model.tables)
        if not got.valid:
            raise ValueError("ctc must be a positive number for a learner to be placed.")
        lower, upper, mean, scale, centers, ids, coarse = self._scalar
        z = [
            ((lo if v < lo else hi if v > hi else v) - mu) / sd
            for v, lo, hi, mu, sd in zip(
                (got.features[name] for name in self.model.features),
                lower,
                upper,
                mean,
                scale,
                strict=True,
            )
        ]
        distances = [
            math.sqrt(sum((a - b) ** 2 for a, b in zip(z, c, strict=True))) for c in centers
        ]
        return self._result(distances, ids, coarse, got.features, got.warnings)

    def assign_batch(self, learners: Sequence[Mapping[str, Any]]) -> list[Assignment]:
        """Many learners at once on the numpy path; results in input order.

        Every learner must have a positive ``ctc`` (validated at the edge).
        """
        if not learners:
            return []
        columns = {name: [learner.get(name) for learner in learners] for name in RAW_FIELDS}
        clean = apply_rules(columns, self.model.rules, ARRAY)
        if not np.all(clean.valid):
            raise ValueError("ctc must be a positive number for a learner to be placed.")
        values = compute_features(clean_columns(clean), self.model.tables, ARRAY)
        x = self.model.matrix(values)
        distances = self._distances(x)
        touched = np.zeros(len(learners), dtype=bool)
        for mask in clean.touched.values():
            touched |= mask
        feature_rows = np.column_stack([values[name] for name in FEATURE_COLUMNS]).tolist()
        # Nearest and runner-up centres for every learner at once (stable order, as the scalar
        # path's sorted(): on a tie the lower centre index wins in both).
        order = np.argsort(distances, axis=1, kind="stable")
        rows = np.arange(len(learners))
        best = order[:, 0]
        best_d = distances[rows, best].tolist()
        segment_ids = self.model.segment_ids[best].tolist()
        coarse = self.model.coarse[best].tolist()
        if distances.shape[1] > 1:
            second = order[:, 1]
            second_d = distances[rows, second].tolist()
            runner_ids: list[int | None] = self.model.segment_ids[second].tolist()
        else:
            second_d = [None] * len(learners)
            runner_ids = [None] * len(learners)
        touched_rows = touched.tolist()
        names = self._names
        version = self.version
        companies = clean.company
        titles = clean.job_title
        out = []
        for i, learner in enumerate(learners):
            features = dict(zip(FEATURE_COLUMNS, feature_rows[i], strict=True))
            warnings = describe_touches(clean, learner, i) if touched_rows[i] else []
            if not (features["company_known"] and features["title_known"]):
                warnings += fallback_warnings(companies[i], titles[i], features)
            runner_d = second_d[i]
            out.append(
                Assignment(
                    segment_id=segment_ids[i],
                    segment_name=names[segment_ids[i]],
                    coarse_segment_id=coarse[i],
                    distance=best_d[i],
                    runner_up_id=runner_ids[i],
                    runner_up_distance=runner_d,
                    margin=None if runner_d is None else runner_d - best_d[i],
                    features=features,
                    warnings=warnings,
                    model_version=version,
                )
            )
        return out

    def _distances(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        z = self.model.scaled(x)
        diff = z[:, None, :] - self.model.centers[None, :, :]
        out: np.ndarray[Any, Any] = np.sqrt(np.einsum("nkd,nkd->nk", diff, diff))
        return out

    def _result(
        self,
        distances: list[float],
        ids: list[int],
        coarse: list[int],
        features: dict[str, float],
        warnings: list[str],
    ) -> Assignment:
        order = sorted(range(len(distances)), key=distances.__getitem__)
        best = order[0]
        second = order[1] if len(order) > 1 else None
        segment = ids[best]
        return Assignment(
            segment_id=segment,
            segment_name=self._names[segment],
            coarse_segment_id=coarse[best],
            distance=distances[best],
            runner_up_id=None if second is None else ids[second],
            runner_up_distance=None if second is None else distances[second],
            margin=None if second is None else distances[second] - distances[best],
            features=features,
            warnings=warnings,
            model_version=self.version,
        )

    # ------------------------------------------------------------------------------ profiles
    def segments(self, level: str = "segment") -> list[dict[str, Any]]:
        """Profile summaries (id, name, size, share, centre, CTC range, recommendations)."""
        source = self.coarse_profiles if level == "coarse" else self.profiles
        keys = ("id", "name", "size", "share", "center", "ctc_lpa", "years_experience")
        summaries = []
        for profile in source:
            summary = {key: profile[key] for key in keys}
            summary["recommendations"] = profile["recommendations"]
            if level == "coarse":
                summary["segments"] = profile["segments"]
            else:
                summary["coarse_segment_id"] = profile["coarse_segment_id"]
            summaries.append(summary)
        return summaries

    def profile(self, segment_id: int, level: str = "segment") -> dict[str, Any] | None:
        """The full profile of one segment (or macro-segment), None when there is no such id."""
        source = self.coarse_profiles if level == "coarse" else self.profiles
        return next((p for p in source if p["id"] == segment_id), None)

    def ids(self, level: str = "segment") -> list[int]:
        source = self.coarse_profiles if level == "coarse" else self.profiles
        return sorted(int(p["id"]) for p in source)
