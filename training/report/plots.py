"""The plots of a trained model.

Plots drawn from the training data (dendrogram, 2-D segment map) are made once, during training.
Plots and the page that need only the artifacts' JSON (elbow, profile heatmap, CTC/experience
ranges, ``report.html``) can be rebuilt at any time by ``python -m training report``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

PLOTS = {
    "elbow": "plots/elbow.png",
    "dendrogram": "plots/dendrogram.png",
    "segment_map": "plots/segment_map.png",
    "heatmap": "plots/profile_heatmap.png",
    "ranges": "plots/ctc_experience.png",
}
#: What ``python -m training report`` rebuilds from the artifacts' JSON.
REBUILT_FILES = ("report.html", PLOTS["elbow"], PLOTS["heatmap"], PLOTS["ranges"])
_DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed date and no software tag keep the bytes identical for the same figure.
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)


def plot_elbow(
    path: Path,
    sweep: Mapping[str, Any],
    chosen_k: int,
    *,
    min_stability: float,
    min_jaccard: float,
) -> None:
    """Inertia and silhouette per k (top); bootstrap stability per k under it, with the bands.

    The knee and the chosen k are drawn once each (once in all when they coincide); the legends
    sit below the panels, never over the data.
    """
    plt = _pyplot()
    ks = sweep["ks"]
    fig, (ax, low) = plt.subplots(
        2,
        1,
        figsize=(7.5, 6.8),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 2], "hspace": 0.32},
    )
    ax.plot(ks, sweep["inertia"], "o-", color="#1f77b4", label="inertia (within-segment spread)")
    ax.set_ylabel("inertia", color="#1f77b4")
    ax2 = ax.twinx()
    ax2.plot(ks, sweep["silhouette"], "s-", color="#2ca02c", label="silhouette (sample)")
    ax2.set_ylabel("silhouette", color="#2ca02c")
    knee = sweep.get("knee")
    marks = [(chosen_k, "#d62728", "-", f"published k = {chosen_k}")]
    if knee is not None and knee != chosen_k:
        marks.append((knee, "#888888", "--", f"knee of the elbow (k = {knee})"))
    elif knee == chosen_k:
        marks[0] = (chosen_k, "#d62728", "-", f"published k = {chosen_k} (the knee)")
    for x, color, style, label in marks:
        ax.axvline(x, color=color, linestyle=style, label=label)
        low.axvline(x, color=color, linestyle=style)
    ax.set_title("Elbow method, checked by bootstrap stability")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(
        lines[0] + lines2[0],
        lines[1] + lines2[1],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    stability = sweep.get("stability", [])
    if "jaccard" in sweep:
        p10 = sweep["stability_p10"]
        low.fill_between(ks, p10, stability, color="#9467bd", alpha=0.15, label="ARI, p10 to mean")
        low.plot(ks, stability, "o-", color="#9467bd", label="overall stability (mean ARI)")
        lowest = [min(j) for j in sweep["jaccard"]]
        low.plot(ks, lowest, "^-", color="#ff7f0e", label="least stable segment (Jaccard)")
    else:  # a model trained before per-segment stability
        low.plot(ks, stability, "o-", color="#9467bd", label="stability (ARI)")
    low.axhspan(0, min_jaccard, color="#d62728", alpha=0.06)
    low.axhline(min_stability, color="#9467bd", linestyle=":", linewidth=1)
    low.axhline(min_jaccard, color="#ff7f0e", linestyle=":", linewidth=1)
    low.set_ylim(0, 1.02)
    low.set_ylabel("stability")
    low.set_xlabel("number of segments k")
    low.set_xticks(ks)
    low.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        ncol=3,
        fontsize=8,
        frameon=False,
        title=f"stable: ARI >= {min_stability} and every segment's Jaccard >= {min_jaccard} "
        "(shaded: a segment under it dissolves or is doubtful)",
        title_fontsize=8,
    )
    _save(fig, path)


#: The Spark engine's hierarchical reference, bisecting K-Means
#: (``training.spark.model.HIERARCHY_METHOD``).
BISECTING = "bisecting-kmeans"


def plot_dendrogram(path: Path, linkage: FloatArray, k: int, *, method: str) -> None:
    """The top of the Ward tree (30 leaves), with the cut that gives k clusters."""
    from scipy.cluster.hierarchy import dendrogram

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    dendrogram(linkage, truncate_mode="lastp", p=30, ax=ax, color_threshold=None, no_labels=False)
    if len(linkage) >= k > 1:
        cut = (linkage[-k, 2] + linkage[-k + 1, 2]) / 2
        ax.axhline(cut, color="#d62728", linestyle="--", label=f"cut into {k} clusters")
        ax.legend(fontsize=8)
    if method == BISECTING:
        ax.set_title("Hierarchical reference (bisecting K-Means): Ward tree of its clusters")
    else:
        ax.set_title(f"Hierarchical (Ward) reference, {method}: top of the tree")
    ax.set_ylabel("merge distance")
    unit = {"two-stage": "micro-clusters", BISECTING: "clusters"}.get(method, "learners")
    ax.set_xlabel(f"branches of the tree ({unit} in each, in brackets)")
    _save(fig, path)


def plot_segment_map(
    path: Path,
    z: FloatArray,
    labels: npt.NDArray[np.intp],
    centers: FloatArray,
    names: Mapping[int, str],
) -> None:
    """Learners and centres on the first two principal components of the scaled features."""
    plt = _pyplot()
    mean = z.mean(axis=0)
    _, _, vt = np.linalg.svd(z - mean, full_matrices=False)
    axes = vt[:2].T
    points = (z - mean) @ axes
    cpoints = (centers - mean) @ axes
    fig, ax = plt.subplots(figsize=(7, 5.5))
    cmap = plt.get_cmap("tab10")
    for seg in sorted(names):
        mask = labels == seg
        ax.scatter(points[mask, 0], points[mask, 1], s=3, alpha=0.35, color=cmap(seg % 10))
        ax.scatter(*cpoints[seg], s=160, marker="X", color=cmap(seg % 10), edgecolor="black")
        ax.annotate(
            f"{seg}", cpoints[seg], xytext=(6, 6), textcoords="offset points", fontweight="bold"
        )
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=cmap(s % 10), label=f"{s}: {names[s]}")
        for s in sorted(names)
    ]
    ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title("Segment map (sample of learners, centres marked X)")
    _save(fig, path)


def plot_heatmap(path: Path, profiles: Sequence[Mapping[str, Any]]) -> None:
    """z-score of each feature's segment mean against all learners."""
    plt = _pyplot()
    features = list(profiles[0]["feature_z"])
    data = np.array([[p["feature_z"][f] for f in features] for p in profiles])
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(profiles) + 2.5))
    limit = max(1.0, float(np.nanmax(np.abs(data))))
    image = ax.imshow(data, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(features)), features, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(profiles)), [f"{p['id']}: {p['name']}" for p in profiles], fontsize=8)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            ax.text(j, i, f"{data[i, j]:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label="z-score vs all learners")
    ax.set_title("Segment profiles: how each segment differs from the population")
    _save(fig, path)


def plot_ranges(path: Path, profiles: Sequence[Mapping[str, Any]]) -> None:
    """CTC (LPA) and years of experience by segment: p10-p90 bars, median marked."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.5 * len(profiles) + 2.5), sharey=True)
    ys = np.arange(len(profiles))
    for ax, key, label in (
        (left, "ctc_lpa", "CTC (lakh per annum, log scale)"),
        (right, "years_experience", "years of experience"),
    ):
        lo = [p[key]["p10"] for p in profiles]
        mid = [p[key]["p50"] for p in profiles]
        hi = [p[key]["p90"] for p in profiles]
        ax.hlines(ys, lo, hi, color="#1f77b4", linewidth=6, alpha=0.5, label="p10-p90")
        ax.plot(mid, ys, "o", color="#d62728", label="median")
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    left.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    left.xaxis.set_major_locator(FixedLocator([0.5, 1, 2, 5, 10, 20, 50, 100, 200]))
    left.xaxis.set_major_formatter(ScalarFormatter())
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_yticks(ys, [f"{p['id']}: {p['name']}" for p in profiles], fontsize=8)
    left.invert_yaxis()
    left.legend(fontsize=8, loc="lower right")
    fig.suptitle("Pay and experience by segment")
    _save(fig, path)


def plot_from_json(folder: Path, manifest: Mapping[str, Any], profiles: Mapping[str, Any]) -> None:
    """The plots that need only the artifacts' JSON."""
    segments = profiles["segments"]
    settings = manifest.get("settings", {})
    plot_elbow(
        folder / PLOTS["elbow"],
        manifest["metrics"]["sweep"],
        manifest["k"],
        min_stability=float(settings.get("min_stability", 0.85)),
        min_jaccard=float(settings.get("min_jaccard", 0.75)),
    )
    plot_heatmap(folder / PLOTS["heatmap"], segments)
    plot_ranges(folder / PLOTS["ranges"], segments)
