"""Publishing a trained model: its parts, whatever engine computed them, written as one version.

:func:`publish_model` is where both engines end: the engine-free kernel (with its
low-confidence threshold and the course of every cohort), the probe learners, profiles, drift
reference, plots and report are written into a staged version folder
(:mod:`training.store.staging`), then published with ``LATEST``. :func:`model_kernel` builds
that kernel once, in the run's tail (whose cohort figures need its threshold), and
:func:`manifest_fields` is what the manifest says of a run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np

from training import report
from training.config import TrainingSettings
from training.model.choice import KChoice
from training.model.hierarchy import BISECTING
from training.model.workers import FitWorkers
from training.prep.cleaning import CleaningReport
from training.runtime.artifacts import (
    DRIFT_JSON,
    KERNEL_JSON,
    MANIFEST_FILE,
    PIPELINE_JOBLIB,
    PROBES_JSON,
    PROFILES_JSON,
)
from training.runtime.cleaning import CleaningRules
from training.runtime.courses import CohortCourses
from training.runtime.drift import DriftReference
from training.runtime.features import FEATURE_COLUMNS, FeatureTables
from training.runtime.kernel import Kernel
from training.store.probes import probe_document
from training.store.staging import finalize_manifest, new_version, staged_model, write_json

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = [
    "ModelParts",
    "confidence_threshold",
    "manifest_fields",
    "model_kernel",
    "publish_model",
]


@dataclass
class ModelParts:
    """Everything a trained model is made of, whatever engine computed it.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted ``clip`` -> ``scale`` -> ``kmeans`` (K-Means' own centre order).
    features : list of str
        The cluster features, in matrix column order.
    segment_ids : ndarray of int, shape (k,)
        Public id of each K-Means centre.
    kernel : Kernel
        The engine-free model with its low-confidence threshold (:func:`model_kernel`).
    cohorts : CohortCourses
        The course of every segment x track, stored beside the kernel in ``segmenter.json``.
    probes : dict of str to list
        Raw learners (``RAW_FIELDS`` columns, junk included) stored with the model: the service
        checks its numpy kernel against the pipeline on them (see :func:`select_probes`).
    profiles : dict
        The ``profiles.json`` document.
    linkage : ndarray of shape (m - 1, 4)
        The hierarchical reference's tree, for the dendrogram.
    hierarchy_method : str
    map_z : ndarray of shape (n_sample, n_features)
        Scaled learners of the segment map (a seeded sample of the training learners), with their
        public ids ``map_labels``.
    centers : ndarray of shape (k, n_features)
        Centres in the scaled space, row i = public id i.
    drift : DriftReference
        The training population's decile bins per feature and segment shares (``drift.json``).
    leaf_segments : ndarray of shape (m, k) or None
        Learners of each public id in each leaf of ``linkage``, to colour the dendrogram by
        segment; None where the engine does not give them (a bisecting reference's leaves are
        then read from the comparison's contingency table).
    """

    pipeline: Pipeline
    features: list[str]
    segment_ids: np.ndarray[Any, Any]
    kernel: Kernel
    cohorts: CohortCourses
    probes: dict[str, list[Any]]
    profiles: dict[str, Any]
    linkage: np.ndarray[Any, Any]
    hierarchy_method: str
    map_z: np.ndarray[Any, Any]
    map_labels: np.ndarray[Any, Any]
    centers: np.ndarray[Any, Any]
    drift: DriftReference
    leaf_segments: np.ndarray[Any, Any] | None = None


def publish_model(
    model_dir: Path,
    created_at: datetime,
    parts: ModelParts,
    manifest_fields: dict[str, Any],
    workers: FitWorkers | None = None,
) -> str:
    """Write a model's artifacts, plots and report, then publish it (``models/LATEST``).

    Both engines end here, so a model has one layout and one ``segmenter.json`` format whatever
    trained it. ``manifest_fields`` are the manifest's fields after ``version`` and
    ``created_at``, in order. The plots are drawn in ``workers`` (a run's worker processes:
    matplotlib holds the GIL) while the artifacts are written, by default one after the other.
    Returns the new version.
    """
    ids, kernel, profiles = parts.segment_ids, parts.kernel, parts.profiles
    drawing = FitWorkers(1) if workers is None else workers
    version = new_version(created_at, model_dir)
    with staged_model(model_dir, version) as folder:
        manifest = {"version": version, "created_at": created_at.isoformat(), **manifest_fields}
        write_json(folder / MANIFEST_FILE, manifest)
        names = {s["id"]: s["name"] for s in profiles["segments"]}
        plots = [
            drawing.submit(report.plot_from_json, folder, manifest, profiles),
            drawing.submit(
                report.plot_dendrogram,
                folder / report.PLOTS["dendrogram"],
                parts.linkage,
                len(ids),
                method=parts.hierarchy_method,
                leaf_segments=_leaf_segments(parts, manifest_fields),
                names=names,
            ),
            drawing.submit(
                report.plot_segment_map,
                folder / report.PLOTS["segment_map"],
                parts.map_z,
                parts.map_labels,
                parts.centers,
                names,
                parts.features,
            ),
        ]
        try:
            joblib.dump(
                {
                    "pipeline": parts.pipeline,
                    "features": parts.features,
                    "segment_ids": ids.tolist(),
                },
                folder / PIPELINE_JOBLIB,
            )
            write_json(
                folder / KERNEL_JSON, {**kernel.to_dict(), "cohorts": parts.cohorts.to_dict()}
            )
            write_json(folder / PROBES_JSON, probe_document(parts.pipeline, kernel, parts.probes))
            write_json(folder / PROFILES_JSON, profiles)
            write_json(folder / DRIFT_JSON, parts.drift.to_dict())
            for plot in plots:
                plot.result()
        finally:
            # the workers draw into the staging folder: none may still be writing when it is
            # published, or removed after a failure (a full disk)
            for plot in plots:
                plot.cancel()
            wait(plots)
        report.render_report(folder)
        finalize_manifest(folder, manifest)
    return version


def _leaf_segments(parts: ModelParts, fields: Mapping[str, Any]) -> np.ndarray[Any, Any] | None:
    """Learners of each segment in each leaf of the hierarchical tree (see ``ModelParts``).

    The bisecting reference's tree has one leaf per bisecting cluster, in id order, so its
    counts are the columns of the comparison's contingency table (on the evaluation sample).
    """
    if parts.leaf_segments is not None:
        return parts.leaf_segments
    comparison = fields.get("metrics", {}).get("comparison", {})
    if parts.hierarchy_method != BISECTING or "contingency" not in comparison:
        return None
    k = len(parts.segment_ids)
    counts = np.zeros((parts.linkage.shape[0] + 1, k), dtype=np.intp)
    table = comparison["contingency"]
    for row, segment in zip(table, comparison["labels_a"], strict=True):
        for count, leaf in zip(row, comparison["labels_b"], strict=True):
            counts[int(leaf), int(segment)] = count
    return counts


def manifest_fields(
    engine: dict[str, Any],
    *,
    k: int,
    choice: KChoice,
    rules: CleaningRules,
    cleaning: CleaningReport,
    features: list[str],
    source: dict[str, Any],
    settings: TrainingSettings,
    metrics: dict[str, Any],
    timings: dict[str, float],
    ids: dict[str, Any],
    churn: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the manifest says of a training run, after ``engine`` (the engine's own fields),
    the same for both engines: k and its choice, how the ids were kept (:func:`ids_report`),
    the churn against the model they were kept from (``training.run``: its figures and a
    ``measures`` sentence), features, data, cleaning, settings, metrics."""
    return {
        **engine,
        "k": k,
        "k_choice": choice.to_dict(),
        "ids": ids,
        "churn": churn,
        "reference_year": rules.reference_year,
        "features": features,
        "feature_columns": list(FEATURE_COLUMNS),
        "data": source,
        "cleaning": cleaning.to_dict(),
        "settings": json.loads(settings.model_dump_json()),
        "metrics": metrics,
        "timings": timings,
    }


def model_kernel(
    pipeline: Pipeline,
    features: list[str],
    segment_of: np.ndarray[Any, Any],
    coarse: list[int],
    rules: CleaningRules,
    tables: FeatureTables,
) -> Kernel:
    """The engine-free kernel of a fitted pipeline (no low-confidence threshold yet).

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted ``clip`` -> ``scale`` -> ``kmeans``.
    features : list of str
        The cluster features, in matrix column order.
    segment_of : ndarray of int, shape (k,)
        Public id of each K-Means centre.
    coarse : list of int, length k
        Coarse (macro) segment of each public id.
    rules, tables
        The frozen cleaning rules and peer tables.

    Returns
    -------
    Kernel
        Centres in K-Means' order; see :func:`confidence_threshold` for its threshold.
    """
    return Kernel.from_pipeline(
        pipeline,
        features,
        segment_ids=[int(i) for i in segment_of],
        coarse=[coarse[int(i)] for i in segment_of],
        rules=rules,
        tables=tables,
    )


def confidence_threshold(kernel: Kernel, map_z: np.ndarray[Any, Any], quantile: float) -> Kernel:
    """The kernel with its low-confidence threshold.

    The threshold is the ``quantile`` of the relative margins of the segment map's learners (a
    seeded sample of the training learners, whatever the engine); a learner under it is about as
    near another segment as its own.

    Parameters
    ----------
    kernel : Kernel
        The model (:func:`model_kernel`).
    map_z : ndarray of shape (n_sample, n_features)
        The segment map's learners, scaled.
    quantile : float
        ``TrainingSettings.low_confidence_quantile``.

    Returns
    -------
    Kernel
        The same model with ``confidence_threshold`` set (unchanged with a single segment: every
        placement is then as confident as it gets).
    """
    found = kernel.nearest(np.asarray(map_z) * kernel.scale + kernel.mean)  # back to feature units
    relative = found.relative_margin
    if relative is None:
        return kernel
    return kernel.with_confidence_threshold(float(np.quantile(relative, quantile)))
