"""``python -m training report MODEL --pdf``: report.pdf from headless Chromium where it is
installed, one sentence and exit code 2 where it is not (before the folder changes), and the
rebuilt folder still verifies, the PDF listed in its manifest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.__main__ import app
from training.report import ReportError, pdf
from training.report.pdf import find_chromium
from training.run import TrainingResult
from training.runtime import artifacts
from training.runtime.artifacts import REPORT_PDF

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)",
)


@pytest.fixture
def folder(trained_small: TrainingResult, tmp_path: Path) -> Path:
    """A writable copy of the trained model's folder."""
    return Path(shutil.copytree(trained_small.folder, tmp_path / trained_small.version))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_a_missing_chromium_is_one_sentence_and_exit_2_before_anything_changes(
    folder: Path,
) -> None:
    before = _snapshot(folder)
    missing = folder.parent / "no-such-chromium"
    result = CliRunner().invoke(app, ["report", str(folder), "--pdf", "--chromium", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: Cannot write {REPORT_PDF}: there is no Chromium executable at {missing}; name "
        "another one or leave out --pdf."
    )
    assert "Traceback" not in result.output
    assert _snapshot(folder) == before
    artifacts.verify_model(folder)


def test_without_chromium_on_path_the_sentence_says_how_to_install_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf, "CHROMIUM_NAMES", ("learnseg-no-such-chromium",))
    with pytest.raises(ReportError, match=r"Chromium is not installed .*\(apt-get install"):
        find_chromium()
    result = CliRunner().invoke(app, ["report", str(folder), "--pdf"])
    assert result.exit_code == 2
    assert "Chromium is not installed" in result.stderr and "leave out --pdf" in result.stderr
    assert "Traceback" not in result.output and not (folder / REPORT_PDF).exists()


def test_chromium_option_without_pdf_is_refused(folder: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(folder), "--chromium", "chromium"])
    assert result.exit_code == 2 and "--chromium applies to --pdf" in result.stderr


def test_report_without_pdf_rebuilds_the_page_and_writes_no_pdf(folder: Path) -> None:
    (folder / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "report.html").is_file() and not (folder / REPORT_PDF).exists()
    artifacts.verify_model(folder)


@needs_chromium
def test_report_pdf_is_printed_and_listed_in_the_manifest(folder: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(folder), "--pdf"])
    assert result.exit_code == 0, result.output
    printed = folder / REPORT_PDF
    body = printed.read_bytes()
    assert body.startswith(b"%PDF") and body.rstrip().endswith(b"%%EOF")
    assert body.count(b"/Type /Page") + body.count(b"/Type/Page") >= 3  # several pages
    manifest = artifacts.verify_model(folder)  # as the service checks it: every file listed
    assert REPORT_PDF in manifest["files"]
    # a second run replaces it, and the folder still verifies
    again = CliRunner().invoke(app, ["report", str(folder), "--pdf"])
    assert again.exit_code == 0, again.output
    artifacts.verify_model(folder)
