"""Plots and the HTML report of a trained model.

Plots drawn from the training data (dendrogram, 2-D segment map) are made once, during training.
Plots and the page that need only the artifacts' JSON (elbow, profile heatmap, CTC/experience
ranges, ``report.html``) can be rebuilt at any time by ``python -m training report``, which
with ``--pdf`` also writes ``report.pdf``.

Modules: :mod:`~training.report.style` (one colour per segment, the features in words),
:mod:`~training.report.plots` (the figures), :mod:`~training.report.page` (the page) and
:mod:`~training.report.pdf` (the page printed by headless Chromium, ``report --pdf``).
"""

from training.report.page import ReportError, render_page, render_report
from training.report.pdf import find_chromium, write_pdf
from training.report.plots import (
    REBUILT_FILES,
    plot_dendrogram,
    plot_elbow,
    plot_from_json,
    plot_heatmap,
    plot_ranges,
    plot_segment_map,
)
from training.runtime.artifacts import PLOTS, REPORT_PDF

__all__ = [
    "PLOTS",
    "REBUILT_FILES",
    "REPORT_PDF",
    "ReportError",
    "find_chromium",
    "plot_dendrogram",
    "plot_elbow",
    "plot_from_json",
    "plot_heatmap",
    "plot_ranges",
    "plot_segment_map",
    "render_page",
    "render_report",
    "write_pdf",
]
