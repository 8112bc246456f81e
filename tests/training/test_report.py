"""The HTML report (training.report): written into the model folder from its JSON, every image
it shows is a plot of that folder, and names from profiles.json are escaped."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from training.pipeline import TrainingResult
from training.report import render_report


@pytest.fixture
def folder(trained_small: TrainingResult, tmp_path: Path) -> Path:
    """A writable copy of the trained model's folder, without its report."""
    copy = Path(shutil.copytree(trained_small.folder, tmp_path / trained_small.version))
    (copy / "report.html").unlink()
    return copy


def test_every_image_of_the_report_is_a_plot_of_the_folder(folder: Path) -> None:
    out = render_report(folder)
    assert out == folder / "report.html"
    sources = re.findall(r"<img src='([^']*)'", out.read_text(encoding="utf-8"))
    plots = sorted(p.relative_to(folder).as_posix() for p in (folder / "plots").iterdir())
    assert sorted(sources) == plots and len(plots) == 5  # each plot shown once
    for source in sources:
        assert (folder / source).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), source


def test_names_from_the_profiles_are_escaped(folder: Path) -> None:
    path = folder / "profiles.json"
    profiles = json.loads(path.read_text(encoding="utf-8"))
    profiles["segments"][0]["name"] = "<script>alert(1)</script> R&D"
    path.write_text(json.dumps(profiles), encoding="utf-8")
    page = render_report(folder).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; R&amp;D" in page
    assert "<script>" not in page
