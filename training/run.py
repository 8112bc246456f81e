"""One training run: ``run(settings) -> TrainingResult``, the steps in order.

load -> clean + features -> preprocess -> elbow sweep + k choice -> K-Means -> hierarchical
reference -> comparison -> coarse level -> profiles -> publish (:mod:`training.store.publish`: the
artifacts staged, then published atomically with ``models/LATEST``, plots and report).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.config import TrainingSettings
from training.data.load import load_learners, read_learners_frame
from training.insights.profiles import (
    build_coarse_profiles,
    build_profiles,
    population_figures,
    profiles_document,
)
from training.model import kmeans as clustering
from training.model.hierarchy import coarse_groups, hierarchical_exact, hierarchical_two_stage
from training.model.pipeline import build_pipeline
from training.prep.features import LearnerData, build_learner_data
from training.runtime.drift import fit_reference
from training.store.publish import (
    ModelParts,
    id_reference,
    ids_report,
    manifest_fields,
    previous_centers,
    public_ids,
    publish_model,
    select_probes,
)

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class TrainingResult:
    """What a run produced and where it went."""

    version: str
    folder: Path
    k: int
    k_choice: clustering.KChoice
    rows: int
    learners: int
    metrics: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class StepClock:
    """Times named steps (seconds, 3 decimals) and reports each one's label as it starts."""

    timings: dict[str, float] = field(default_factory=dict)
    progress: Progress | None = None

    @contextmanager
    def step(self, name: str, label: str) -> Iterator[None]:
        if self.progress:
            self.progress(label)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


def load_raw(settings: TrainingSettings) -> tuple[pd.DataFrame, str]:
    """The raw table named by ``settings.data``, or the embedded default; and a label for it."""
    if settings.data is None:
        from training.data.synth import generate_learners

        frame = generate_learners(rows=settings.synth_rows, seed=settings.synth_seed)
        label = (
            f"embedded default (synthetic, {settings.synth_rows} rows, seed {settings.synth_seed})"
        )
        return read_learners_frame(frame, origin="the embedded default"), label
    return load_learners(settings.data, cache_dir=settings.cache_dir), settings.data


def fingerprint(raw: pd.DataFrame) -> str:
    """SHA-256 of the loaded table's values (row order included), independent of file format."""
    hashed = pd.util.hash_pandas_object(raw, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def segment_silhouettes(
    z: np.ndarray[Any, Any], labels: np.ndarray[Any, Any], seed: int, sample: int
) -> dict[int, float]:
    """Mean silhouette of each segment on a seeded sample of at most ``sample`` rows of z."""
    from sklearn.metrics import silhouette_samples

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(z), size=min(sample, len(z)), replace=False))
    if len(np.unique(labels[rows])) < 2:
        return {}
    values = silhouette_samples(z[rows], labels[rows])
    return {int(s): float(values[labels[rows] == s].mean()) for s in np.unique(labels[rows])}


def run(
    settings: TrainingSettings,
    *,
    raw: pd.DataFrame | None = None,
    source: str | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train a segmentation model and publish it under ``settings.model_dir``.

    Parameters
    ----------
    settings : TrainingSettings
        Every knob; ``settings.data`` names the table unless ``raw`` is given.
    raw : DataFrame, optional
        An already loaded raw table (the loader's schema); ``source`` labels it.
    progress : callable, optional
        Called with a short label as each step starts.
    """
    clock = StepClock(progress=progress)
    created_at = datetime.now(UTC).replace(microsecond=0)
    with clock.step("load", "Loading the learner table"):
        if raw is None:
            raw, source = load_raw(settings)
        data_fingerprint = fingerprint(raw)
    with clock.step("clean_features", "Cleaning and computing learner features"):
        data: LearnerData = build_learner_data(raw, settings)
    features = list(settings.cluster_features)
    x = data.features[features].to_numpy(np.float64)
    n = x.shape[0]
    if n < max(settings.k_max, 10) * 5:
        raise ValueError(
            f"Only {n} learners remain after cleaning: too few to segment into up to "
            f"{settings.k_max} segments."
        )

    with clock.step("preprocess", "Preprocessing (clip + scale)"):
        pipeline = build_pipeline(2, seed=settings.seed, n_init=settings.n_init)
        pre = pipeline[:-1].fit(x)
        z = pre.transform(x)
    with clock.step("sweep", f"Elbow sweep k = {settings.k_min}..{settings.k_max}"):
        sweep = clustering.sweep_k(
            z,
            settings.k_min,
            settings.k_max,
            seed=settings.seed,
            n_init=settings.sweep_n_init,
            silhouette_sample=settings.silhouette_sample,
            stability_resamples=settings.stability_resamples,
            stability_sample=settings.stability_sample,
            stability_n_init=settings.stability_n_init,
        )
        choice = clustering.choose_k(
            sweep,
            settings.k,
            min_stability=settings.min_stability,
            min_jaccard=settings.min_jaccard,
        )
    k = choice.k
    with clock.step("kmeans", f"K-Means with k = {k}"):
        kmeans = clustering.fit_kmeans(z, k, seed=settings.seed, n_init=settings.n_init)
        pipeline.steps[-1] = ("kmeans", kmeans)
        scaler = pipeline.named_steps["scale"]
        centers_orig = kmeans.cluster_centers_ * scaler.scale_ + scaler.mean_
        reference = id_reference(settings, features, k)
        previous = previous_centers(reference.folder, features) if reference.folder else None
        ids = public_ids(
            np.bincount(kmeans.labels_, minlength=k),
            centers_orig,
            (scaler.mean_, scaler.scale_),
            previous,
        )
        labels = ids[kmeans.labels_]
        centers = np.empty_like(kmeans.cluster_centers_)
        centers[ids] = kmeans.cluster_centers_
        if previous is not None and len(previous) < k:
            log.info("%d new segments got fresh ids", k - len(previous))
        ids_doc = ids_report(reference, x, labels)
    with clock.step("stability", f"Bootstrap stability of the {k} segments"):
        rows = np.sort(
            np.random.default_rng(settings.seed).choice(
                n, size=min(n, settings.stability_sample), replace=False
            )
        )
        stability = clustering.bootstrap_stability(
            z[rows],
            kmeans.labels_[rows],
            k,
            resamples=settings.stability_resamples,
            seed=settings.seed,
            n_init=settings.stability_n_init,
        ).by_id(ids)
    with clock.step("hierarchical", f"Hierarchical reference ({settings.hierarchical})"):
        hierarchy = (
            hierarchical_exact(z, k)
            if settings.hierarchical == "exact"
            else hierarchical_two_stage(z, k, seed=settings.seed, n_micro=settings.n_micro)
        )
        two_stage_vs_exact = None
        if settings.hierarchical == "exact":
            staged = hierarchical_two_stage(z, k, seed=settings.seed, n_micro=settings.n_micro)
            from sklearn.metrics import adjusted_rand_score

            two_stage_vs_exact = float(adjusted_rand_score(hierarchy.labels, staged.labels))
    with clock.step("compare", "Comparing K-Means with the hierarchical reference"):
        comparison = clustering.compare_labelings(
            labels, hierarchy.labels, z, seed=settings.seed, sample=settings.silhouette_sample
        )
        silhouettes = segment_silhouettes(
            z, labels, settings.seed, min(settings.silhouette_sample, 5_000)
        )
    with clock.step("profiles", "Profiling segments"):
        sizes = np.bincount(labels, minlength=k)
        coarse = coarse_groups(centers, sizes)
        best_match = {int(a): m for a, m in comparison["best_match_jaccard"].items()}
        thresholds = settings.recommendation_thresholds
        segments = build_profiles(
            labels,
            data.learners,
            data.features,
            centers=centers,
            silhouette=silhouettes,
            best_match=best_match,
            coarse=dict(enumerate(coarse)),
            thresholds=thresholds,
        )
        coarse_labels = np.asarray(coarse)[labels]
        members: dict[int, list[int]] = {}
        for seg, group in enumerate(coarse):
            members.setdefault(group, []).append(seg)
        macro = build_coarse_profiles(
            coarse_labels, data.learners, data.features, members, thresholds
        )
        profiles_doc = profiles_document(
            k,
            segments,
            macro,
            population_figures(data.learners, data.features),
            jaccard={int(i): float(j) for i, j in stability["jaccard"].items()},
        )

    metrics: dict[str, Any] = {
        "sweep": sweep.to_dict(),
        "stability": stability,
        "kmeans": {
            "inertia": float(kmeans.inertia_),
            "n_init": settings.n_init,
            "silhouette": comparison["silhouette_a"],
        },
        "hierarchical": {
            "method": hierarchy.method,
            "n_micro": hierarchy.n_micro,
            "seconds": round(hierarchy.seconds, 3),
            "two_stage_vs_exact_ari": two_stage_vs_exact,
        },
        "comparison": comparison,
    }
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(n, size=min(n, 5_000), replace=False))
    parts = ModelParts(
        pipeline=pipeline,
        features=features,
        segment_ids=ids,
        coarse=coarse,
        rules=data.rules,
        tables=data.tables,
        probes=select_probes(raw, data.rules, seed=settings.seed),
        profiles=profiles_doc,
        linkage=hierarchy.linkage,
        hierarchy_method=hierarchy.method,
        map_z=z[sample],
        map_labels=labels[sample],
        low_confidence_quantile=settings.low_confidence_quantile,
        centers=centers,
        leaf_segments=hierarchy.leaf_counts(labels, k),
        drift=fit_reference(features, x, labels, sorted(int(i) for i in ids)),
    )
    with clock.step("write", "Writing artifacts, plots and report"):
        fields = manifest_fields(
            {"engine": "scikit-learn"},
            k=k,
            choice=choice,
            rules=data.rules,
            cleaning=data.report,
            features=features,
            source={
                "source": source or "dataframe",
                "fingerprint": data_fingerprint,
                "rows": len(raw),
                "learners": int(n),
            },
            settings=settings,
            metrics=metrics,
            ids=ids_doc,
            timings=clock.timings,
        )
        version = publish_model(settings.model_dir, created_at, parts, fields)
    return TrainingResult(
        version=version,
        folder=settings.model_dir / version,
        k=k,
        k_choice=choice,
        rows=len(raw),
        learners=n,
        metrics=metrics,
        timings=clock.timings,
    )
