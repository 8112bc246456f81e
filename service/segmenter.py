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
import numpy.typing as npt

from training.artifacts import resolve_model, verify_model
from training.cleaning import WARNING_RULES, apply_rules, describe_rows
from training.features import (
    FALLBACK_FLAGS,
    FALLBACKS,
    clean_columns,
    compute_features,
    fallback_masks,
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


@dataclass(frozen=True, slots=True)
class Placement:
    """Learners placed at once on the numpy path; row i of every field is the i-th learner.

    For the metrics, ``segment_counts`` says how many learners each segment id got, and
    ``warning_counts`` how many each warning rule (a name of ``training.cleaning.WARNING_RULES``)
    or peer-group fallback (a key of ``training.features.FALLBACKS``) warned.
    """

    nearest: npt.NDArray[np.intp]  # index of the nearest centre
    distance: npt.NDArray[np.float64]
    runner_up: npt.NDArray[np.intp] | None  # None when the model has a single segment
    runner_up_distance: npt.NDArray[np.float64] | None
    features: npt.NDArray[np.float64]  # (n, n_features): the model's features, in its order
    warnings: list[list[str]]
    segment_counts: dict[int, int]
    warning_counts: dict[str, int]


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
    _version: str = field(init=False, repr=False)
    _wanted: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._names = {int(p["id"]): str(p["name"]) for p in self.profiles}
        self._version = str(self.manifest["version"])
        # The features a placement needs: the model's, and the flags its fallback warnings read.
        self._wanted = tuple(dict.fromkeys((*self.model.features, *FALLBACK_FLAGS)))
        m = self.model
        self._scalar = (
            list(
                zip(
                    m.lower.tolist(),
                    m.upper.tolist(),
                    m.mean.tolist(),
                    m.scale.tolist(),
                    strict=True,
                )
            ),
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
        return self._version

    def segment_name(self, segment_id: int) -> str:
        return self._names[segment_id]

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
        got = learner_features(learner, self.model.rules, self.model.tables, names=self._wanted)
        if not got.valid:
            raise ValueError("ctc must be a positive number for a learner to be placed.")
        bounds, centers, ids, coarse = self._scalar
        names = self.model.features
        features = got.features
        used = [features[name] for name in names]
        z = [
            ((lo if v < lo else hi if v > hi else v) - mu) / sd
            for v, (lo, hi, mu, sd) in zip(used, bounds, strict=True)
        ]
        distances = [math.dist(z, c) for c in centers]
        # Nearest and runner-up centre; on a tie the lower centre index wins (as np.argsort's
        # stable sort on the batch path).
        best, second = 0, -1
        for i in range(1, len(distances)):
            d = distances[i]
            if d < distances[best]:
                best, second = i, best
            elif second < 0 or d < distances[second]:
                second = i
        segment = ids[best]
        nearest = distances[best]
        if second < 0:
            runner_id, runner_d, margin = None, None, None
        else:
            runner_id, runner_d = ids[second], distances[second]
            margin = runner_d - nearest
        return Assignment(
            segment_id=segment,
            segment_name=self._names[segment],
            coarse_segment_id=coarse[best],
            distance=nearest,
            runner_up_id=runner_id,
            runner_up_distance=runner_d,
            margin=margin,
            features=dict(zip(names, used, strict=True)),
            warnings=got.warnings,
            model_version=self._version,
        )

    def assign_batch(self, learners: Sequence[Mapping[str, Any]]) -> list[Assignment]:
        """Many learners (raw field names) at once on the numpy path; results in input order.

        Every learner must have a positive ``ctc`` (validated at the edge).
        """
        return self.assignments(
            self.place({name: [x.get(name) for x in learners] for name in RAW_FIELDS})
        )

    def place(self, columns: Mapping[str, Sequence[Any]]) -> Placement:
        """Place learners given as raw columns (``RAW_FIELDS``, n values each), all at once.

        Cleaning, features, distances, nearest and runner-up centres are numpy over the columns;
        warnings are formatted once per distinct sentence. Every ``ctc`` must be positive
        (validated at the edge): ``ValueError`` otherwise.
        """
        model = self.model
        clean = apply_rules(columns, model.rules, ARRAY)
        n = len(clean.valid)
        if not np.all(clean.valid):
            raise ValueError("ctc must be a positive number for a learner to be placed.")
        values = compute_features(clean_columns(clean), model.tables, ARRAY, self._wanted)
        x = model.matrix(values)
        distances = self._distances(x)
        # Nearest and runner-up centres (a stable sort: on a tie the lower centre index wins,
        # as on the scalar path).
        order = np.argsort(distances, axis=1, kind="stable")
        rows = np.arange(n)
        nearest = order[:, 0]
        runner = order[:, 1] if distances.shape[1] > 1 else None
        warnings = describe_rows(clean, columns)
        counts = {name: int(np.count_nonzero(clean.touched[name])) for name in WARNING_RULES}
        for name, mask in fallback_masks(clean, values).items():
            warned = np.flatnonzero(mask).tolist()
            counts[name] = len(warned)
            for i in warned:
                warnings[i].append(FALLBACKS[name])
        return Placement(
            nearest=nearest,
            distance=distances[rows, nearest],
            runner_up=runner,
            runner_up_distance=None if runner is None else distances[rows, runner],
            features=x,
            warnings=warnings,
            segment_counts=dict(
                zip(
                    model.segment_ids.tolist(),
                    np.bincount(nearest, minlength=len(model.segment_ids)).tolist(),
                    strict=True,
                )
            ),
            warning_counts=counts,
        )

    def assignments(self, placed: Placement) -> list[Assignment]:
        """One :class:`Assignment` per placed learner, in order (``render_batch`` writes the
        same fields as JSON, straight from the placement)."""
        model = self.model
        n = len(placed.nearest)
        segment_ids = model.segment_ids[placed.nearest].tolist()
        coarse = model.coarse[placed.nearest].tolist()
        distance = placed.distance.tolist()
        runner_ids: list[int | None] = [None] * n
        runner_d: list[float | None] = [None] * n
        margins: list[float | None] = [None] * n
        if placed.runner_up is not None and placed.runner_up_distance is not None:
            runner_ids = model.segment_ids[placed.runner_up].tolist()
            runner_d = placed.runner_up_distance.tolist()
            margins = (placed.runner_up_distance - placed.distance).tolist()
        names, version, keys = self._names, self._version, model.features
        return [
            Assignment(
                segment_id=segment,
                segment_name=names[segment],
                coarse_segment_id=macro,
                distance=d,
                runner_up_id=runner_id,
                runner_up_distance=second,
                margin=margin,
                features=dict(zip(keys, row, strict=True)),
                warnings=warnings,
                model_version=version,
            )
            for segment, macro, d, runner_id, second, margin, row, warnings in zip(
                segment_ids,
                coarse,
                distance,
                runner_ids,
                runner_d,
                margins,
                placed.features.tolist(),
                placed.warnings,
                strict=True,
            )
        ]

    def _distances(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        z = self.model.scaled(x)
        diff = z[:, None, :] - self.model.centers[None, :, :]
        out: np.ndarray[Any, Any] = np.sqrt(np.einsum("nkd,nkd->nk", diff, diff))
        return out

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
