"""The report's plots (training.report.plots): one colour per segment in every plot, no legend
over data, the heatmap in words with only the model's inputs in its first panel on a scale
centred on all learners, dendrogram branches coloured by the segment they mostly hold, the knee
and the published k drawn once each."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure
from PIL import Image
from scipy.cluster.hierarchy import linkage as scipy_linkage

from training.model.hierarchy import hierarchical_exact, hierarchical_two_stage
from training.report.plots import (
    _DPI,
    _ROOM,
    MOSTLY,
    NEGLIGIBLE_Z,
    _save,
    branch_color,
    branch_segments,
    constant_features,
    draw_dendrogram,
    draw_elbow,
    draw_heatmap,
    draw_ranges,
    draw_segment_map,
    heatmap_limit,
    heatmap_panels,
)
from training.report.style import (
    DIVERGING_CMAP,
    FEATURE_LABELS,
    FEATURE_SIGNS,
    MIXED_COLOR,
    SEGMENT_COLORS,
    segment_color,
)
from training.run import TrainingResult
from training.runtime.features import FEATURE_COLUMNS


@pytest.fixture(scope="module")
def docs(trained_small: TrainingResult) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = trained_small.folder
    return (
        json.loads((folder / "manifest.json").read_text(encoding="utf-8")),
        json.loads((folder / "profiles.json").read_text(encoding="utf-8")),
    )


def _hexes(colors: Any) -> list[str]:
    """Colours as matplotlib returns them (one or many RGBA rows), as ``#rrggbb``."""
    return [to_hex(tuple(row)) for row in np.atleast_2d(np.asarray(colors, dtype=np.float64))]


def _legends_clear_of_axes(fig: Figure) -> None:
    """No legend's box overlaps the data area of any axes of the figure."""
    canvas: Any = FigureCanvasAgg(fig)  # matplotlib leaves draw() and get_renderer() untyped
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = [*fig.legends, *(legend for ax in fig.axes if (legend := ax.get_legend()))]
    assert legends, "the figure has no legend to check"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                continue
            area = ax.get_window_extent(renderer)
            overlap_w = min(box.x1, area.x1) - max(box.x0, area.x0)
            overlap_h = min(box.y1, area.y1) - max(box.y0, area.y0)
            assert overlap_w <= 0 or overlap_h <= 0, f"a legend covers {ax.get_title()!r}"


# --- the palette ----------------------------------------------------------------------------------
def test_the_palette_gives_each_segment_its_own_colour_never_grey_or_the_decision_red() -> None:
    colors = [segment_color(i) for i in range(len(SEGMENT_COLORS))]
    assert len(set(colors)) == len(colors) >= 12
    assert MIXED_COLOR not in colors and "#d62728" not in colors and "#7f7f7f" not in colors
    assert segment_color(len(SEGMENT_COLORS)) == segment_color(0)  # it starts again


# --- the heatmap --------------------------------------------------------------------------------
def test_heatmap_first_panel_is_the_models_inputs_in_words_turned_to_read_alike(
    docs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    manifest, profiles = docs
    segments = profiles["segments"]
    inputs = manifest["features"]
    first, second = heatmap_panels(segments, inputs)
    assert first.features == inputs
    same = constant_features(segments)
    assert sorted(first.features + second.features + same) == sorted(FEATURE_COLUMNS)
    for panel in (first, second):
        assert all("_" not in label for label in panel.labels), panel.labels
        assert [label.removesuffix(", known companies") for label in panel.labels] == [
            FEATURE_LABELS[f] for f in panel.features
        ]
        for i, feature in enumerate(panel.features):
            raw = [s["feature_z"][feature] for s in segments]
            np.testing.assert_allclose(
                panel.values[i], np.multiply(raw, FEATURE_SIGNS.get(feature, 1))
            )
    # tier 1 is the best paid: a segment at better-paying companies reads as positive
    assert FEATURE_SIGNS["company_tier"] == -1 and "Better-paying" in FEATURE_LABELS["company_tier"]


def test_heatmap_scale_diverges_from_zero_for_all_learners(
    docs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    manifest, profiles = docs
    segments = profiles["segments"]
    fig = draw_heatmap(segments, manifest["features"])
    images = [image for ax in fig.axes for image in ax.get_images()]
    assert len(images) == 2  # the inputs, then the other features
    limit = heatmap_limit(heatmap_panels(segments, manifest["features"]))
    for image in images:
        low, high = image.get_clim()
        assert low == -high == -limit  # 0, all learners, in the middle
        assert image.get_cmap().name == DIVERGING_CMAP
        assert image.cmap(0.5)[:3] == pytest.approx((0.97, 0.97, 0.97), abs=0.03)  # white
    shown = [ax.get_yticklabels() for ax in fig.axes if ax.get_images()]
    assert [t.get_text().removesuffix(", known companies") for t in shown[0]] == [
        FEATURE_LABELS[f] for f in manifest["features"]
    ]


def test_the_heatmap_leaves_out_a_row_the_same_in_every_segment(
    docs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Records in the table and yearly pay growth read 0.0 for every segment of a table with
    one record a learner: no row of the heatmap shows them."""
    manifest, profiles = docs
    segments = json.loads(json.dumps(profiles["segments"]))
    for segment in segments:
        segment["feature_z"]["n_records"] = 0.02
        segment["feature_z"]["ctc_growth"] = -0.01
    segments[0]["feature_z"]["log_ctc"] = 0.04  # differs, but not as the heatmap writes it
    for segment in segments[1:]:
        segment["feature_z"]["log_ctc"] = 0.0
    same = constant_features(segments)
    assert {"n_records", "ctc_growth", "log_ctc"} <= set(same)
    shown = [f for panel in heatmap_panels(segments, manifest["features"]) for f in panel.features]
    assert not set(same) & set(shown)
    assert constant_features(segments[:1]) == []  # one segment: nothing to compare


def test_a_row_like_all_learners_in_every_segment_is_left_out(
    docs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """A small table's "0.0, -0.1, 0.0, +0.1" row differs as written, yet tells no segment apart."""
    _, profiles = copy.deepcopy(docs)
    segments = profiles["segments"]
    for i, segment in enumerate(segments):
        segment["feature_z"]["n_records"] = (-0.1, 0.0, 0.1, -0.14)[i % 4]
        segment["feature_z"]["ctc_growth"] = (-0.1, 0.0, 0.1, -0.14)[i % 4]
    segments[0]["feature_z"]["ctc_growth"] = NEGLIGIBLE_Z  # one segment at the bar: shown
    same = constant_features(segments)
    assert "n_records" in same and "ctc_growth" not in same


def test_the_tier_row_says_it_counts_known_companies(
    docs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    manifest, profiles = docs

    def tier_label(segments: list[dict[str, Any]]) -> str:
        first = heatmap_panels(segments, manifest["features"])[0]
        return first.labels[first.features.index("company_tier")]

    assert tier_label(profiles["segments"]) == "Better-paying company (tier), known companies"
    older = [{k: v for k, v in s.items() if k != "company_known"} for s in profiles["segments"]]
    assert tier_label(older) == "Better-paying company (tier)"  # a model from before


# --- segment colours in every plot ----------------------------------------------------------------
def test_segment_map_and_ranges_colour_each_segment_by_the_palette_with_legends_outside(
    docs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    manifest, profiles = docs
    segments = profiles["segments"]
    names = {s["id"]: s["name"] for s in segments}
    rng = np.random.default_rng(0)
    k, width = len(segments), len(manifest["features"])
    centers = rng.normal(size=(k, width)) * 3
    labels = np.repeat(np.arange(k), 50)
    z = centers[labels] + rng.normal(size=(len(labels), width)) * 0.3
    fig = draw_segment_map(z, labels, centers, names, manifest["features"])
    ax = fig.axes[0]
    colours = [_hexes(c.get_facecolor())[0] for c in ax.collections]
    assert colours == [segment_color(s) for s in sorted(names) for _ in (0, 1)]  # dots, centre
    assert "% of the spread" in ax.get_xlabel() and "% of the spread" in ax.get_ylabel()
    assert any(FEATURE_LABELS[f] in ax.get_xlabel() + ax.get_ylabel() for f in manifest["features"])
    _legends_clear_of_axes(fig)

    fig = draw_ranges(segments, profiles["population"])
    for ax in fig.axes:
        bars = ax.collections[0]
        assert _hexes(bars.get_edgecolor()) == [segment_color(s["id"]) for s in segments]
    _legends_clear_of_axes(fig)


def test_branch_colour_is_the_segment_holding_more_than_half() -> None:
    assert branch_color(np.array([0.0, 6.0, 4.0])) == segment_color(1)
    assert branch_color(np.array([5.0, 5.0, 0.0])) == MIXED_COLOR  # half is a tie, not "mostly"
    assert branch_color(np.array([4.0, 3.0, 3.0])) == MIXED_COLOR
    assert branch_color(np.zeros(3)) == MIXED_COLOR
    assert MOSTLY == 0.5


def test_dendrogram_branches_take_the_colour_of_the_segment_they_hold() -> None:
    # two tight blobs far apart: leaves 0-9 are segment 1, leaves 10-19 segment 0
    rng = np.random.default_rng(1)
    points = np.vstack([rng.normal(0, 0.1, (10, 2)), rng.normal(10, 0.1, (10, 2))])
    tree = scipy_linkage(points, method="ward")
    leaves = np.zeros((20, 2))
    leaves[:10, 1] = 1
    leaves[10:, 0] = 1
    counts = branch_segments(tree, leaves)
    assert counts.shape == (39, 2) and counts[-1].tolist() == [10, 10]
    fig = draw_dendrogram(tree, 2, method="exact", leaf_segments=leaves, names={0: "a", 1: "b"})
    ax = fig.axes[0]
    drawn = {c for coll in ax.collections for c in _hexes(coll.get_edgecolor())}
    assert drawn == {segment_color(0), segment_color(1), MIXED_COLOR}  # the root is mixed
    _legends_clear_of_axes(fig)
    plain = draw_dendrogram(tree, 2, method="exact")
    assert {c for coll in plain.axes[0].collections for c in _hexes(coll.get_edgecolor())} == {
        MIXED_COLOR
    }


@pytest.mark.parametrize("method", ["two-stage", "exact"])
def test_hierarchy_counts_each_segment_in_each_leaf(method: str) -> None:
    rng = np.random.default_rng(2)
    x = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(8, 1, (300, 2))])
    hierarchy = (
        hierarchical_two_stage(x, 2, n_micro=40)
        if method == "two-stage"
        else hierarchical_exact(x, 2)
    )
    segments = (x[:, 0] > 4).astype(np.intp)
    counts = hierarchy.leaf_counts(segments, 2)
    assert counts.shape == (hierarchy.linkage.shape[0] + 1, 2)
    assert counts.sum(axis=0).tolist() == np.bincount(segments).tolist()
    if hierarchy.leaf_sizes is not None:
        assert counts.sum(axis=1).tolist() == hierarchy.leaf_sizes.tolist()


# --- the elbow --------------------------------------------------------------------------------
def _vertical_lines(fig: Figure) -> list[list[tuple[float, str]]]:
    out = []
    for ax in fig.axes:
        found = []
        for line in ax.get_lines():
            xs = np.asarray(line.get_xdata(), dtype=np.float64)
            if len(xs) == 2 and xs[0] == xs[1]:
                found.append((float(xs[0]), to_hex(line.get_color())))
        out.append(found)
    return out


@pytest.mark.parametrize("knee", [None, "same", "other"])
def test_elbow_draws_the_knee_and_the_published_k_once_each(
    knee: str | None, docs: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    manifest, _ = docs
    sweep = dict(manifest["metrics"]["sweep"])
    k = manifest["k"]
    other = next(x for x in sweep["ks"] if x != k)
    sweep["knee"] = {None: None, "same": k, "other": other}[knee]
    fig = draw_elbow(sweep, k, min_stability=0.85, min_jaccard=0.75)
    expected = sorted({k, other} if knee == "other" else {k})
    for lines in _vertical_lines(fig)[:2]:  # the two panels (the third axes is the twin)
        assert sorted(x for x, _ in lines) == expected
    colours = {to_rgba(c) for ax in fig.axes for line in ax.get_lines() for c in [line.get_color()]}
    assert not colours & {to_rgba(c) for c in SEGMENT_COLORS}  # no curve looks like a segment
    _legends_clear_of_axes(fig)


# --- writing a plot ---------------------------------------------------------------------------
def _read_png(path: Path) -> Image.Image:
    return Image.open(io.BytesIO(path.read_bytes()))  # no file left open


def _same_size(a: Image.Image, b: Image.Image) -> bool:
    return abs(a.width - b.width) <= 1 and abs(a.height - b.height) <= 1


def _tight_png(fig: Figure) -> Image.Image:
    """The figure as matplotlib's ``savefig(bbox_inches="tight")`` writes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_a_plot_is_drawn_once_cropped_as_savefig_tight_crops_it(
    docs: tuple[dict[str, Any], dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One drawing, not savefig's two; the same size as ``bbox_inches="tight"`` (the legends
    under the axes and the long row labels drawn outside the figure included), the same
    picture, opaque, and the same bytes for the same figure."""
    manifest, profiles = docs
    draws: list[Figure] = []
    draw = Figure.draw

    def counted(fig: Figure, renderer: Any) -> None:
        draws.append(fig)
        draw(fig, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    makers: list[tuple[str, Callable[[], Figure]]] = [
        ("heatmap", lambda: draw_heatmap(profiles["segments"], manifest["features"])),
        ("ranges", lambda: draw_ranges(profiles["segments"], profiles["population"])),
    ]
    for name, make in makers:
        fig = make()
        draws.clear()
        _save(fig, tmp_path / f"{name}.png")
        assert len(draws) == 1, name
        written = _read_png(tmp_path / f"{name}.png")
        assert written.mode == "RGB"  # opaque: no alpha channel to store
        expected = _tight_png(fig).convert("RGB")
        assert _same_size(written, expected), name
        shown = np.asarray(written, dtype=np.int16)[: expected.height, : expected.width]
        wanted = np.asarray(expected, dtype=np.int16)[: shown.shape[0], : shown.shape[1]]
        assert np.abs(shown - wanted).mean() < 6, name  # the same picture, up to a sub-pixel shift
        first = (tmp_path / f"{name}.png").read_bytes()
        _save(make(), tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes() == first


def test_a_plot_drawing_beyond_the_room_around_it_is_saved_whole(tmp_path: Path) -> None:
    fig = Figure(figsize=(4, 3))
    fig.subplots().plot([0, 1], [0, 1])
    fig.text(-_ROOM / 4 - 0.5, 0.5, "far to the left of the figure")  # figure fractions
    _save(fig, tmp_path / "far.png")
    written = _read_png(tmp_path / "far.png")
    expected = _tight_png(fig)
    assert written.width > 4 * _DPI + _ROOM * _DPI  # the text was not cut off
    assert _same_size(written, expected)
