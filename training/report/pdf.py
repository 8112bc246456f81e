"""``report.pdf``: ``report.html`` printed by headless Chromium, where Chromium is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from training.report.page import ReportError
from training.runtime.artifacts import REPORT_HTML, REPORT_PDF

__all__ = ["CHROMIUM_NAMES", "PRINT_TIMEOUT", "REPORT_PDF", "find_chromium", "write_pdf"]

#: Executables tried, in order, when no Chromium is named.
CHROMIUM_NAMES: tuple[str, ...] = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
#: Seconds Chromium is given to print the page.
PRINT_TIMEOUT = 120.0


def find_chromium(binary: str | Path | None = None) -> str:
    """The Chromium executable to print with.

    Parameters
    ----------
    binary : str or Path, optional
        A path, or a name looked up on ``PATH``. None tries :data:`CHROMIUM_NAMES` in order.

    Returns
    -------
    str
        The executable's path.

    Raises
    ------
    ReportError
        With one sentence, when there is no such executable.
    """
    if binary is not None:
        found = shutil.which(str(binary))
        if found is None:
            raise ReportError(
                f"Cannot write {REPORT_PDF}: there is no Chromium executable at {binary}; name "
                "another one or leave out --pdf."
            )
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise ReportError(
        f"Cannot write {REPORT_PDF}: Chromium is not installed (looked for "
        f"{', '.join(CHROMIUM_NAMES)} on PATH); install it (apt-get install chromium) or leave "
        "out --pdf."
    )


def write_pdf(
    folder: Path, *, chromium: str | Path | None = None, timeout: float = PRINT_TIMEOUT
) -> Path:
    """Print a model folder's ``report.html`` to ``report.pdf`` with headless Chromium.

    The page and its plots are read from the folder (``file://``); Chromium runs with a
    throw-away profile, no network services and no header or footer on the pages. The PDF is
    written beside the page only once Chromium has produced a whole one.

    Parameters
    ----------
    folder : Path
        A model folder holding ``report.html`` (see :func:`training.report.render_report`).
    chromium : str or Path, optional
        The Chromium executable (:func:`find_chromium`).
    timeout : float, default=120.0
        Seconds before printing is given up.

    Returns
    -------
    Path
        ``folder / REPORT_PDF`` (``report.pdf``).

    Raises
    ------
    ReportError
        With one sentence: no Chromium, no page, or Chromium failed or timed out.
    """
    executable = find_chromium(chromium)
    page = folder / REPORT_HTML
    if not page.is_file():
        raise ReportError(f"Cannot write {REPORT_PDF}: {page} does not exist.")
    out = folder / REPORT_PDF
    with tempfile.TemporaryDirectory(prefix="learnseg-pdf-") as scratch:
        printed = Path(scratch) / REPORT_PDF
        command = [
            executable,
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={Path(scratch) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={printed}",
            page.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(
                f"Chromium did not finish printing {out} within {timeout:g} s."
            ) from None
        except OSError as exc:
            raise ReportError(
                f"Cannot run Chromium ({executable}) to write {out}: {exc.strerror or exc}."
            ) from None
        if not printed.is_file() or not printed.read_bytes().startswith(b"%PDF"):
            raise ReportError(
                f"Chromium ({executable}) could not print {out} (exit code {done.returncode})."
            )
        shutil.copyfile(printed, out)
    return out
