"""Plots and the HTML report of a trained model.

Plots drawn from the training data (dendrogram, 2-D segment map) are made once, during training.
Plots and the page that need only the artifacts' JSON (elbow, profile heatmap, CTC/experience
ranges, ``report.html``) can be rebuilt at any time by ``python -m training report``.

Modules: :mod:`~training.report.plots` (the figures), :mod:`~training.report.page` (the page).
"""

from training.report.page import render_report
from training.report.plots import (
    BISECTING,
    PLOTS,
    REBUILT_FILES,
    plot_dendrogram,
    plot_elbow,
    plot_from_json,
    plot_heatmap,
    plot_ranges,
    plot_segment_map,
)

__all__ = [
    "BISECTING",
    "PLOTS",
    "REBUILT_FILES",
    "plot_dendrogram",
    "plot_elbow",
    "plot_from_json",
    "plot_heatmap",
    "plot_ranges",
    "plot_segment_map",
    "render_report",
]
