"""report.html opened in a real headless Chromium (Debian's package), as a reader opens it.

Skipped, with the reason, only where Chromium or its driver is not installed (``.ci/run``
installs both). The page is the report of the model trained on the full embedded default
(``trained_default``); its first screen goes to ``test-output/report-first-screen.png``, the
image committed as ``docs/report-first-screen.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import HAS_CHROMIUM, NO_CHROMIUM, REPO, headless_chromium
from training.report.page import SECTIONS
from training.run import TrainingResult

OUTPUT = REPO / "test-output"
#: The first screen of a laptop.
WIDTH, HEIGHT = 1280, 900

pytestmark = pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium("--hide-scrollbars", f"--window-size={WIDTH},{HEIGHT}") as driver:
        yield driver


def test_report_opens_with_every_image_and_section_and_the_actions_on_the_first_screen(
    trained_default: TrainingResult, browser: Any
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    folder = trained_default.folder
    driver.get((folder / "report.html").resolve().as_uri())
    # the window's own bars take part of --window-size: make the page itself WIDTH x HEIGHT
    chrome = driver.execute_script("return window.outerHeight - window.innerHeight")
    driver.set_window_size(WIDTH, HEIGHT + chrome)
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [
        WIDTH,
        HEIGHT,
    ]
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, "
        "i.naturalWidth])"
    )
    assert len(images) == 5
    for src, complete, width in images:
        assert complete and width > 100, f"{src} did not load"
    sections = driver.execute_script(
        "return Array.from(document.querySelectorAll('section')).map(s => s.id)"
    )
    assert sections == [anchor for anchor, _ in SECTIONS]
    # what to do comes first: the three actions are on the first screen
    first_action = driver.execute_script(
        "return document.querySelector('#summary ol.actions li:last-child')"
        ".getBoundingClientRect().bottom"
    )
    assert 0 < first_action <= HEIGHT
    # nothing wider than the window (a reader never scrolls sideways)
    assert driver.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    # every word of every name carries its rule and figure
    profiles = json.loads((folder / "profiles.json").read_text(encoding="utf-8"))
    words = sum(len(s["name_words"]) for s in profiles["segments"])
    titled = driver.execute_script("return document.querySelectorAll('#segments .word[title]')")
    assert len(titled) == words
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "report-first-screen.png"
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
