"""The plots of a trained model, one colour per segment throughout (:mod:`training.report.style`).

Plots drawn from the training data (dendrogram, 2-D segment map) are made once, during training
(:func:`training.store.publish.publish_model`). Plots that need only the artifacts' JSON (elbow,
profile heatmap, CTC/experience ranges) can be rebuilt at any time by
``python -m training report``. Their file names are :data:`training.runtime.artifacts.PLOTS`.

Each ``draw_*`` function returns the matplotlib figure (the tests read it); each ``plot_*``
function draws it and writes the PNG. No legend sits over data: legends go under the axes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training.config import MIN_JACCARD, MIN_STABILITY
from training.model.hierarchy import BISECTING
from training.report.style import (
    DIVERGING_CMAP,
    FEATURE_SIGNS,
    MIXED_COLOR,
    feature_label,
    segment_color,
)
from training.runtime.artifacts import PLOTS, REPORT_HTML

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "MOSTLY",
    "NEGLIGIBLE_Z",
    "REBUILT_FILES",
    "HeatmapPanel",
    "branch_color",
    "branch_segments",
    "constant_features",
    "draw_dendrogram",
    "draw_elbow",
    "draw_heatmap",
    "draw_ranges",
    "draw_segment_map",
    "heatmap_limit",
    "heatmap_panels",
    "map_axes",
    "plot_dendrogram",
    "plot_elbow",
    "plot_from_json",
    "plot_heatmap",
    "plot_ranges",
    "plot_segment_map",
]

#: What ``python -m training report`` rebuilds from the artifacts' JSON.
REBUILT_FILES = (REPORT_HTML, PLOTS["elbow"], PLOTS["heatmap"], PLOTS["ranges"])
_DPI = 110
#: Inches of room drawn around a figure before it is cropped (:func:`_save`); a whole number
#: of pixels at :data:`_DPI`, so the figure lies on the pixel grid as without room.
_ROOM = 3.0
#: The padding of matplotlib's ``bbox_inches="tight"`` (``savefig.pad_inches``), in inches.
_PAD = 0.1
#: No software tag (and matplotlib writes no date in a PNG): the same figure, the same bytes.
_METADATA: dict[str, Any] = {"Software": None}
#: zlib's level for the plots' PNGs: 3 compressed the five plots of a model in two thirds of
#: the time of the default (6), for 1 % more bytes.
_PNG_LEVEL = 3
#: The colour of decisions: the published k (the cut of the tree is black). No segment has it.
_DECISION = "#d62728"
#: Lines that are no segment (the elbow's curves, the cut): black and a dark grey.
_INK = "#222222"
_INK2 = "#6b6b6b"
_CUT = _INK


def _figure(**options: Any) -> Figure:
    # A bare Figure, not pyplot: no global figure registry to close, no GUI backend to choose.
    from matplotlib.figure import Figure

    return Figure(**options)


def _line(**options: Any) -> Line2D:
    """A legend handle."""
    from matplotlib.lines import Line2D

    return Line2D([], [], **options)


def _save(fig: Figure, path: Path) -> None:
    """Write `fig` as a PNG cropped to what it draws (``bbox_inches="tight"``), drawn once.

    ``savefig(bbox_inches="tight")`` draws a figure twice: once to measure what it draws, once
    to save it, on a new canvas whose text is measured again. Here the figure is drawn once on a
    canvas with :data:`_ROOM` inches of room on every side (the legends under the axes and the
    long row labels draw outside the figure), measured on that same drawing and cropped to the
    same box as ``"tight"`` (its 0.1-inch padding included). A figure that draws beyond the
    room is saved the ordinary way. The PNG is written by :func:`_write_png`.
    """
    import io

    from matplotlib.transforms import Bbox

    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = fig.get_size_inches()
    room = Bbox.from_extents(-_ROOM, -_ROOM, width + _ROOM, height + _ROOM)
    drawn: list[Any] = []

    def crop(event: Any) -> None:  # after the drawing, on its canvas: nothing measured twice
        tight = fig.get_tightbbox(event.renderer).padded(_PAD)
        pixels = np.asarray(event.renderer.buffer_rgba())
        left, bottom = round(tight.x0 * _DPI), round(tight.y0 * _DPI)
        right, top = left + int(tight.width * _DPI), bottom + int(tight.height * _DPI)
        if left >= 0 and bottom >= 0 and right <= pixels.shape[1] and top <= pixels.shape[0]:
            rows = pixels.shape[0]  # the buffer's first row is the top
            drawn.append(pixels[rows - top : rows - bottom, left:right].copy())

    listener = fig.canvas.mpl_connect("draw_event", crop)
    try:
        fig.savefig(io.BytesIO(), format="rgba", dpi=_DPI, bbox_inches=room)
    finally:
        fig.canvas.mpl_disconnect(listener)
    if drawn:
        _write_png(path, drawn[0])
    else:
        fig.savefig(path, dpi=_DPI, bbox_inches="tight", metadata=_METADATA)


def _write_png(path: Path, pixels: npt.NDArray[np.uint8]) -> None:
    """Write RGBA `pixels` (rows from the top) as a PNG of :data:`_DPI`.

    An opaque picture (every plot's background is white) is written without its alpha channel:
    the same picture with a quarter fewer bytes to compress. At :data:`_PNG_LEVEL` this is
    faster than matplotlib's RGBA at zlib's default level, and the file is smaller.
    """
    from PIL import Image  # matplotlib's own PNG writer (pillow is one of its dependencies)

    if bool((pixels[..., 3] == 255).all()):
        pixels = np.ascontiguousarray(pixels[..., :3])
    # Without text chunks (no software tag, no date): the same figure, the same bytes.
    Image.fromarray(pixels).save(path, format="png", dpi=(_DPI, _DPI), compress_level=_PNG_LEVEL)


def _title(ax: Axes, text: str, **options: Any) -> None:
    """An axes' title, over the axes.

    Its height is given (``y=1``, the top of the axes, as matplotlib places a title when no
    tick label sits over the axes, as none does here), so that matplotlib does not measure every
    axis of the figure again on each drawing to place it.
    """
    ax.set_title(text, y=1.0, **options)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _signed(value: float) -> str:
    """A z-score to one decimal with its sign; no "-0.0"."""
    shown = round(float(value), 1)
    return "0.0" if shown == 0 else f"{shown:+.1f}"


def _segment_label(segment_id: int, name: str) -> str:
    return f"{segment_id}: {name}"


# --------------------------------------------------------------------------------------------
# How many segments
# --------------------------------------------------------------------------------------------
def draw_elbow(
    sweep: Mapping[str, Any],
    chosen_k: int,
    *,
    min_stability: float,
    min_jaccard: float,
) -> Figure:
    """Inertia and silhouette per k (top); bootstrap stability per k under it, with the bands.

    The knee and the chosen k are drawn once each (once in all when they coincide); the legends
    sit below the panels, never over the data. No curve has a segment's colour: black and grey
    tell the curves apart, red marks the published k.
    """
    ks = sweep["ks"]
    fig = _figure(figsize=(7.5, 6.8))
    ax, low = fig.subplots(
        2,
        1,
        sharex=True,
        gridspec_kw={"height_ratios": [3, 2], "hspace": 0.32},
    )
    ax.plot(ks, sweep["inertia"], "o-", color=_INK, label="inertia (within-segment spread)")
    ax.set_ylabel("inertia (solid)")
    ax2 = ax.twinx()
    ax2.plot(ks, sweep["silhouette"], "s--", color=_INK2, label="silhouette (sample)")
    ax2.set_ylabel("silhouette (dashed)", color=_INK2)
    knee = sweep.get("knee")
    marks = [(chosen_k, _DECISION, "-", f"published k = {chosen_k}")]
    if knee is not None and knee != chosen_k:
        marks.append((knee, _INK2, "-.", f"knee of the elbow (k = {knee})"))
    elif knee == chosen_k:
        marks[0] = (chosen_k, _DECISION, "-", f"published k = {chosen_k} (the knee)")
    for x, color, style, label in marks:
        ax.axvline(x, color=color, linestyle=style, label=label)
        low.axvline(x, color=color, linestyle=style)
    _title(ax, "Elbow method, checked by bootstrap stability")
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
        low.fill_between(ks, p10, stability, color=_INK2, alpha=0.15, label="ARI, p10 to mean")
        low.plot(ks, stability, "o-", color=_INK, label="overall stability (mean ARI)")
        lowest = [min(j) for j in sweep["jaccard"]]
        low.plot(ks, lowest, "^--", color=_INK2, label="least stable segment (Jaccard)")
    else:  # a model trained before per-segment stability
        low.plot(ks, stability, "o-", color=_INK, label="stability (ARI)")
    low.axhspan(0, min_jaccard, color=_DECISION, alpha=0.06)
    low.axhline(min_stability, color=_INK, linestyle=":", linewidth=1)
    low.axhline(min_jaccard, color=_INK2, linestyle=":", linewidth=1)
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
    return fig


def plot_elbow(
    path: Path,
    sweep: Mapping[str, Any],
    chosen_k: int,
    *,
    min_stability: float,
    min_jaccard: float,
) -> None:
    """Write the elbow plot (:func:`draw_elbow`) to `path`."""
    _save(draw_elbow(sweep, chosen_k, min_stability=min_stability, min_jaccard=min_jaccard), path)


# --------------------------------------------------------------------------------------------
# The hierarchical reference
# --------------------------------------------------------------------------------------------
#: The Spark engine's hierarchical reference, bisecting K-Means
#: (``training.spark.model.HIERARCHY_METHOD``).
#: A branch takes a segment's colour when that segment holds more than this share of its learners.
MOSTLY = 0.5


def branch_segments(linkage: FloatArray, leaf_segments: npt.ArrayLike) -> FloatArray:
    """Learners of each segment under every node of a tree, leaves first.

    Parameters
    ----------
    linkage : ndarray of shape (m - 1, 4)
        A scipy linkage matrix over m leaves.
    leaf_segments : array-like of shape (m, k)
        Learners of each segment (columns, by public id) in each leaf.

    Returns
    -------
    ndarray of shape (2 m - 1, k)
        Row i < m is leaf i; row m + j is the node that row j of `linkage` made.
    """
    leaves = np.asarray(leaf_segments, dtype=np.float64)
    m = linkage.shape[0] + 1
    if leaves.ndim != 2 or leaves.shape[0] != m:
        raise ValueError(f"Need one row of segment counts per leaf ({m}); got {leaves.shape}.")
    counts = np.zeros((2 * m - 1, leaves.shape[1]))
    counts[:m] = leaves
    for row in range(m - 1):
        counts[m + row] = counts[int(linkage[row, 0])] + counts[int(linkage[row, 1])]
    return counts


def branch_color(counts: FloatArray) -> str:
    """The colour of a branch holding `counts` learners of each segment.

    The colour of the segment holding more than :data:`MOSTLY` (half) of its learners; grey
    (:data:`~training.report.style.MIXED_COLOR`) when no segment does.
    """
    total = float(counts.sum())
    if total <= 0:
        return MIXED_COLOR
    top = int(np.argmax(counts))
    return segment_color(top) if counts[top] / total > MOSTLY else MIXED_COLOR


def _compact(n: float) -> str:
    if n >= 9_950:
        return f"{n / 1000:.0f}k"
    if n >= 1_000:
        return f"{n / 1000:.1f}k"
    return f"{n:.0f}"


def draw_dendrogram(
    linkage: FloatArray,
    k: int,
    *,
    method: str,
    leaf_segments: npt.ArrayLike | None = None,
    names: Mapping[int, str] | None = None,
) -> Figure:
    """The top of the hierarchical tree (30 branches), with the cut that gives k clusters.

    With `leaf_segments` (learners of each K-Means segment in each leaf of the tree), every
    branch is coloured by the segment holding most of its learners (:func:`branch_color`) and
    each bottom branch is labelled with its learners; without, branches are grey.
    """
    from scipy.cluster.hierarchy import dendrogram

    fig = _figure(figsize=(8.5, 4.2))
    ax = fig.subplots()
    counts = None if leaf_segments is None else branch_segments(linkage, leaf_segments)
    options: dict[str, Any] = {"truncate_mode": "lastp", "p": 30, "ax": ax}
    if counts is not None:
        node_counts = counts
        options["link_color_func"] = lambda node: branch_color(node_counts[node])
        options["leaf_label_func"] = lambda node: _compact(float(node_counts[node].sum()))
        options["leaf_rotation"] = 90
    else:
        options["link_color_func"] = lambda node: MIXED_COLOR
    drawn = dendrogram(linkage, **options)
    if counts is not None:  # colour each bottom branch's label like the branch
        for label, node in zip(ax.get_xticklabels(), drawn["leaves"], strict=False):
            label.set_color(branch_color(counts[node]))
    if len(linkage) >= k > 1:
        cut = (linkage[-k, 2] + linkage[-k + 1, 2]) / 2
        ax.axhline(cut, color=_CUT, linestyle="--", linewidth=1)
        ax.annotate(
            f" cut into\n {k} clusters",
            xy=(1.0, cut),
            xycoords=("axes fraction", "data"),
            va="center",
            ha="left",
            fontsize=8,
            color=_CUT,
        )
    if method == BISECTING:
        _title(ax, "Hierarchical reference (bisecting K-Means): Ward tree of its clusters")
    else:
        _title(ax, f"Hierarchical (Ward) reference, {method}: top of the tree")
    ax.set_ylabel("merge distance")
    unit = "learners of the evaluation sample" if method == BISECTING else "learners"
    if counts is None:
        unit = {"two-stage": "micro-clusters", BISECTING: "clusters"}.get(method, "learners")
        ax.set_xlabel(f"branches of the tree ({unit} in each, in brackets)")
    else:
        ax.set_xlabel(f"branches of the tree ({unit} in each)")
        shown = sorted({int(np.argmax(c)) for c in counts[k:] if c.sum() > 0} | set(names or {}))
        handles = [
            _line(
                color=segment_color(s),
                linewidth=3,
                label=_segment_label(s, (names or {}).get(s, f"segment {s}")),
            )
            for s in shown
        ]
        handles.append(
            _line(color=MIXED_COLOR, linewidth=3, label="no segment holds more than half")
        )
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.22),
            ncol=2,
            fontsize=8,
            frameon=False,
            title="colour: the K-Means segment holding more than half of the branch's learners",
            title_fontsize=8,
        )
    return fig


def plot_dendrogram(
    path: Path,
    linkage: FloatArray,
    k: int,
    *,
    method: str,
    leaf_segments: npt.ArrayLike | None = None,
    names: Mapping[int, str] | None = None,
) -> None:
    """Write the dendrogram (:func:`draw_dendrogram`) to `path`."""
    _save(
        draw_dendrogram(linkage, k, method=method, leaf_segments=leaf_segments, names=names),
        path,
    )


# --------------------------------------------------------------------------------------------
# Where the segments lie
# --------------------------------------------------------------------------------------------
#: A feature is named on a map axis when its weight in the axis is at least this (of 1).
_AXIS_WEIGHT = 0.35


def map_axes(
    z: FloatArray, features: Sequence[str] | None = None
) -> tuple[FloatArray, FloatArray, list[str]]:
    """The segment map's two axes: principal components of the scaled inputs, in words.

    Parameters
    ----------
    z : ndarray of shape (n_learners, n_features)
        Scaled model inputs.
    features : sequence of str, optional
        Their names, to say what each axis measures.

    Returns
    -------
    mean : ndarray of shape (n_features,)
    axes : ndarray of shape (n_features, 2)
        The first two principal directions (unit vectors, columns).
    labels : list of str
        One axis label each: the share of the spread it shows and the inputs that rise (↑) or
        fall (↓) along it, e.g. ``"component 1, 47 % of the spread: Years of experience ↑"``.
    """
    mean = z.mean(axis=0)
    _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
    spread = s**2 / max(float((s**2).sum()), 1e-12)
    axes = vt[:2].T.copy()
    labels = []
    for i in range(min(2, axes.shape[1])):
        text = f"component {i + 1}, {100 * spread[i]:.0f} % of the spread"
        if features is not None:
            signs = np.array([FEATURE_SIGNS.get(f, 1) for f in features], dtype=np.float64)
            worded = axes[:, i] * signs  # in the labels' sense ("Better-paying company")
            if worded[int(np.argmax(np.abs(worded)))] < 0:  # the largest points right / up
                axes[:, i] *= -1
                worded *= -1
            order = np.argsort(-np.abs(worded))
            words = [
                f"{feature_label(features[j])} {'↑' if worded[j] > 0 else '↓'}"
                for j in order
                if abs(worded[j]) >= _AXIS_WEIGHT
            ]
            text += ": " + ", ".join(words) if words else ""
        labels.append(text)
    return mean, axes, labels


def draw_segment_map(
    z: FloatArray,
    labels: npt.NDArray[np.intp],
    centers: FloatArray,
    names: Mapping[int, str],
    features: Sequence[str] | None = None,
) -> Figure:
    """Learners and centres on the first two principal components of the scaled inputs.

    The axis labels say what each component measures (:func:`map_axes`); the legend of the
    segments sits under the map.
    """
    mean, axes, axis_labels = map_axes(z, features)
    points = (z - mean) @ axes
    cpoints = (centers - mean) @ axes
    fig = _figure(figsize=(7.5, 6))
    ax = fig.subplots()
    for seg in sorted(names):
        mask = labels == seg
        color = segment_color(seg)
        ax.scatter(points[mask, 0], points[mask, 1], s=3, alpha=0.35, color=color)
        ax.scatter(
            cpoints[seg, 0],
            cpoints[seg, 1],
            s=170,
            marker="X",
            color=color,
            edgecolor="black",
            zorder=3,
        )
        ax.annotate(
            f"{seg}",
            cpoints[seg],
            xytext=(7, 7),
            textcoords="offset points",
            fontweight="bold",
            zorder=4,
        )
    handles = [
        _line(marker="o", linestyle="", color=segment_color(s), label=_segment_label(s, n))
        for s, n in sorted(names.items())
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    ax.set_xlabel(_wrap(axis_labels[0], 80), fontsize=9)
    ax.set_ylabel(_wrap(axis_labels[1], 50), fontsize=9)
    _title(ax, "Segment map (a sample of learners; centres marked X)")
    return fig


def plot_segment_map(
    path: Path,
    z: FloatArray,
    labels: npt.NDArray[np.intp],
    centers: FloatArray,
    names: Mapping[int, str],
    features: Sequence[str] | None = None,
) -> None:
    """Write the segment map (:func:`draw_segment_map`) to `path`."""
    _save(draw_segment_map(z, labels, centers, names, features), path)


# --------------------------------------------------------------------------------------------
# How the segments differ
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HeatmapPanel:
    """One panel of the profile heatmap: features (rows) by segments (columns).

    ``values[i, j]`` is the z-score of feature ``features[i]`` in segment j against all
    learners, turned round where the feature's sign is -1 (:data:`FEATURE_SIGNS`) so that a
    positive value always reads as the label's words ("Better-paying company").
    """

    title: str
    features: list[str]
    labels: list[str]
    values: FloatArray


#: A row whose z-score is within this of 0 in every segment says "like all learners" everywhere.
NEGLIGIBLE_Z = 0.15


def constant_features(profiles: Sequence[Mapping[str, Any]]) -> list[str]:
    """The features whose z-score reads the same in every segment, as the heatmap writes it, or
    reads as all learners' in every segment (within :data:`NEGLIGIBLE_Z`: "0.0", "+0.1").

    Such a row (say, "records in the table" when every learner has one record, or a row of
    0.0 and -0.1 on a small table) tells no segment apart, so the heatmap leaves it out; with
    one segment nothing is left out.
    """
    if len(profiles) < 2:
        return []
    names = list(profiles[0]["feature_z"])
    return [
        f
        for f in names
        if len({_signed(p["feature_z"][f]) for p in profiles}) == 1
        or all(abs(float(p["feature_z"][f])) < NEGLIGIBLE_Z for p in profiles)
    ]


def _heatmap_label(name: str, profiles: Sequence[Mapping[str, Any]]) -> str:
    label = feature_label(name)
    if name == "company_tier" and all("company_known" in p for p in profiles):
        label += ", known companies"  # the profile's tier z-score counts only those
    return label


def heatmap_panels(
    profiles: Sequence[Mapping[str, Any]], inputs: Sequence[str]
) -> list[HeatmapPanel]:
    """The heatmap's panels: the model's inputs first, every other feature in a second panel.

    A feature that reads the same in every segment (:func:`constant_features`) is left out.

    Parameters
    ----------
    profiles : sequence of mapping
        Segment profiles (``feature_z``), in column order.
    inputs : sequence of str
        The clustering features (the manifest's ``features``).
    """
    same = set(constant_features(profiles))
    known = [f for f in profiles[0]["feature_z"] if f not in same]
    first = [f for f in inputs if f in known]
    rest = [f for f in known if f not in first]

    def panel(title: str, names: list[str]) -> HeatmapPanel:
        values = np.array(
            [[FEATURE_SIGNS.get(f, 1) * p["feature_z"][f] for p in profiles] for f in names],
            dtype=np.float64,
        ).reshape(len(names), len(profiles))
        return HeatmapPanel(title, names, [_heatmap_label(f, profiles) for f in names], values)

    panels = []
    if first or not rest:
        panels.append(panel("What the segments are made of: the model's inputs", first))
    if rest:
        panels.append(panel("Other figures, for context (not used to form the segments)", rest))
    return panels


def heatmap_limit(panels: Sequence[HeatmapPanel]) -> float:
    """The colour scale's half-width: it runs from minus this to plus this, 0 in the middle."""
    top = max((float(np.nanmax(np.abs(p.values))) for p in panels if p.values.size), default=0.0)
    return max(1.0, float(np.ceil(top * 2) / 2))


#: Characters per line of a segment's name over its heatmap column.
_HEAD_WIDTH = 18


def draw_heatmap(profiles: Sequence[Mapping[str, Any]], inputs: Sequence[str]) -> Figure:
    """How each segment differs from all learners, feature by feature (z-scores).

    Rows are features in words, columns segments (coloured as in every plot); the model's inputs
    are the first panel, the other features a second one. The colour scale diverges from white
    at 0 (all learners): blue is more than all learners, red less, on every row alike.
    """
    from matplotlib.patches import Rectangle

    panels = heatmap_panels(profiles, inputs)
    limit = heatmap_limit(panels)
    n = len(profiles)
    rows = [len(p.features) for p in panels]
    heads = [_wrap(f"{p['id']}: {p['name']}", _HEAD_WIDTH) for p in profiles]
    lines = max(h.count("\n") + 1 for h in heads)
    fig = _figure(
        figsize=(3.4 + 1.05 * n, 0.42 * sum(rows) + 0.9 * len(panels) + 2.2 + 0.13 * lines)
    )
    grid = fig.add_gridspec(
        len(panels) + 1, 1, height_ratios=[*rows, 0.35], hspace=0.5 / max(1, len(panels))
    )
    images = []
    for index, panel in enumerate(panels):
        ax = fig.add_subplot(grid[index])
        images.append(
            ax.imshow(panel.values, cmap=DIVERGING_CMAP, vmin=-limit, vmax=limit, aspect="auto")
        )
        ax.set_yticks(range(len(panel.labels)), panel.labels, fontsize=9)
        ax.set_xticks([])  # the segments are named over their columns
        # the first panel's title sits above the segments' names, however many lines they take
        pad = 14 + 8.5 * lines if index == 0 else 8
        _title(ax, panel.title, fontsize=10, loc="left", pad=pad)
        for i in range(panel.values.shape[0]):
            for j in range(n):
                value = panel.values[i, j]
                ax.text(
                    j,
                    i,
                    _signed(value),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if abs(value) > 0.6 * limit else "black",
                )
        for j, profile in enumerate(profiles):  # the segment's colour over its column
            ax.add_patch(
                Rectangle(
                    (j - 0.5, -0.62),
                    1,
                    0.12,
                    color=segment_color(int(profile["id"])),
                    clip_on=False,
                )
            )
            if index == 0:
                ax.annotate(
                    heads[j],
                    xy=(j, -0.66),
                    xycoords="data",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    annotation_clip=False,
                )
    bar = fig.add_subplot(grid[len(panels)])
    colorbar = fig.colorbar(images[0], cax=bar, orientation="horizontal")
    colorbar.set_label(
        "z-score against all learners: 0 = all learners; blue = more, red = less "
        "(in standard deviations)",
        fontsize=8,
    )
    fig.suptitle("How each segment differs from all learners", fontsize=12, y=0.995)
    return fig


def plot_heatmap(
    path: Path, profiles: Sequence[Mapping[str, Any]], inputs: Sequence[str] = ()
) -> None:
    """Write the profile heatmap (:func:`draw_heatmap`) to `path`."""
    _save(draw_heatmap(profiles, inputs), path)


def draw_ranges(
    profiles: Sequence[Mapping[str, Any]], population: Mapping[str, Any] | None = None
) -> Figure:
    """CTC (LPA) and years of experience by segment: p10-p90 bars in the segment's colour,
    the median marked, all learners' median as a dashed line; the legend under the panels."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    fig = _figure(figsize=(10, 0.5 * len(profiles) + 2.5))
    left, right = fig.subplots(1, 2, sharey=True)
    ys = np.arange(len(profiles))
    colors = [segment_color(int(p["id"])) for p in profiles]
    for ax, key, label in (
        (left, "ctc_lpa", "CTC (lakh per annum, log scale)"),
        (right, "years_experience", "years of experience"),
    ):
        lo = [p[key]["p10"] for p in profiles]
        mid = [p[key]["p50"] for p in profiles]
        hi = [p[key]["p90"] for p in profiles]
        ax.hlines(ys, lo, hi, colors=colors, linewidth=7, alpha=0.75)
        ax.plot(mid, ys, "o", color="black", markersize=5)
        if population is not None and key in population:
            ax.axvline(
                population[key]["p50"],
                color="#555555",
                linestyle="--",
                linewidth=1,
            )
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    left.set_xscale("log")
    left.xaxis.set_major_locator(FixedLocator([0.5, 1, 2, 5, 10, 20, 50, 100, 200]))
    left.xaxis.set_major_formatter(ScalarFormatter())
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_yticks(ys, [_segment_label(p["id"], p["name"]) for p in profiles], fontsize=8)
    for tick, color in zip(left.get_yticklabels(), colors, strict=True):
        tick.set_color("black")
        tick.set_bbox({"facecolor": color, "alpha": 0.18, "edgecolor": "none", "pad": 1.5})
    left.invert_yaxis()
    handles = [
        _line(color=MIXED_COLOR, linewidth=7, label="middle 80 % (p10-p90), segment's colour"),
        _line(color="black", marker="o", linestyle="", label="median"),
    ]
    if population is not None:
        handles.append(
            _line(color="#555555", linestyle="--", linewidth=1, label="all learners' median")
        )
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    fig.suptitle("Pay and experience by segment")
    return fig


def plot_ranges(
    path: Path,
    profiles: Sequence[Mapping[str, Any]],
    population: Mapping[str, Any] | None = None,
) -> None:
    """Write the pay and experience ranges (:func:`draw_ranges`) to `path`."""
    _save(draw_ranges(profiles, population), path)


def plot_from_json(folder: Path, manifest: Mapping[str, Any], profiles: Mapping[str, Any]) -> None:
    """Write the plots that need only the artifacts' JSON: elbow, heatmap and ranges.

    Parameters
    ----------
    folder : Path
        The model folder; the plots go to their paths in it (:data:`PLOTS`).
    manifest, profiles : mapping
        The model's manifest and profiles. The elbow plot's stability bars are the manifest's
        settings (the defaults of :mod:`training.config` for a manifest without them).
    """
    segments = profiles["segments"]
    settings = manifest.get("settings", {})
    plot_elbow(
        folder / PLOTS["elbow"],
        manifest["metrics"]["sweep"],
        manifest["k"],
        min_stability=float(settings.get("min_stability", MIN_STABILITY)),
        min_jaccard=float(settings.get("min_jaccard", MIN_JACCARD)),
    )
    plot_heatmap(folder / PLOTS["heatmap"], segments, manifest.get("features", ()))
    plot_ranges(folder / PLOTS["ranges"], segments, profiles.get("population"))
