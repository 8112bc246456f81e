"""The segment explorer page at /, driven in a real headless Chromium (Debian's package).

Skipped, with the reason, only where Chromium or its driver is not installed (``.ci/run``
installs both). The screenshot goes to ``test-output/explorer.png``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import HAS_CHROMIUM, NO_CHROMIUM, REPO, free_port, headless_chromium
from training.insights.wording import inr_text
from training.run import TrainingResult

OUTPUT = REPO / "test-output"

pytestmark = pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM)


@pytest.fixture(scope="module")
def server(trained_small: TrainingResult) -> Iterator[str]:
    port = free_port()
    env = os.environ | {"LEARNSEG_MODEL_DIR": str(trained_small.folder.parent)}
    env.pop("LEARNSEG_API_KEYS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the service did not become ready within 30 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium("--window-size=1280,1600") as driver:
        yield driver


def test_page_lists_segments_and_assigns_a_learner(server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    driver.get(server + "/")
    wait = WebDriverWait(driver, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#segments .card")))
    listing = httpx.get(f"{server}/segments").json()
    segments = listing["segments"]
    cards = driver.find_elements(By.CSS_SELECTOR, "#segments .card")
    assert len(cards) == len(segments)
    assert segments[0]["name"] in cards[0].text
    assert "Model " in driver.find_element(By.ID, "model").text
    # The summary: all learners' medians, the segments by size, the actions to take first.
    summary = driver.find_element(By.ID, "summary").text
    assert f"median {listing['population']['years_experience']['p50']:g} years" in summary
    # Pay reads as the report writes it (training.insights.wording).
    assert f"median CTC {inr_text(listing['population']['ctc_inr']['p50'])}" in summary
    listed = driver.find_elements(By.CSS_SELECTOR, "#summary-segments li")
    assert [li.text.split(" (")[0] for li in listed] == [
        s["name"] for s in listing["summary"]["segments"]
    ]
    actions = driver.find_elements(By.CSS_SELECTOR, "#summary-actions li")
    assert len(actions) == len(listing["summary"]["actions"]) > 0
    for action, item in zip(listing["summary"]["actions"], actions, strict=True):
        assert action["text"] in item.text and f"{action['reach']:,} learners" in item.text
    # Each word of a name shows, on hover, the figure that earned it and the rule.
    words = cards[0].find_elements(By.CSS_SELECTOR, "h3 .word")
    expected = segments[0]["name_words"]
    assert [w.text for w in words] == [w["word"] for w in expected]
    assert [w.get_attribute("title") for w in words] == [
        f"{w['figure']} ({w['rule']})" for w in expected
    ]

    learner = {
        "ctc": "2500000",
        "orgyear": "20165",
        "job_position": "Backend Engineer",
        "company_hash": "a company never seen",
        "ctc_updated_year": "2020",
    }
    for name, value in learner.items():
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    driver.find_element(By.ID, "submit").click()
    card = wait.until(ec.presence_of_element_located((By.ID, "assignment")))
    expected = httpx.post(
        f"{server}/segment",
        json={
            k: (v if k in ("job_position", "company_hash") else int(v)) for k, v in learner.items()
        },
    ).json()
    assert card.get_attribute("data-segment-id") == str(expected["segment_id"])
    assert expected["segment_name"] in card.text
    # The track of the title and the course of the learner's cohort, as the API answers them.
    course = driver.find_element(By.ID, "track-course")
    assert course.get_attribute("data-track") == expected["track"] == "backend"
    assert course.get_attribute("data-course") == expected["course"]
    assert f"Track: Backend & SDE. Course: {expected['course_name']}." == course.text
    # The learner's own figures beside the name, and the distance in plain words.
    own = driver.find_element(By.ID, "own-figures").text
    assert f"You: {expected['features']['years_experience']:g} years of experience" in own
    assert "How clear-cut: the learner is" in card.text and "Distance " not in card.text
    trust = driver.find_element(By.ID, "segment-trust").text
    assert ("Second method:" in trust or "The second method" in trust) and (
        "placed with low confidence" in trust
    )
    warnings = driver.find_element(By.ID, "warnings").text
    assert "orgyear 20165 looks like a typo" in warnings
    assert all(w in warnings for w in expected["warnings"])
    OUTPUT.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT / "explorer.png"))
    assert (OUTPUT / "explorer.png").stat().st_size > 10_000


def test_the_api_docs_render_without_internet(server: str, browser: Any) -> None:
    """Swagger UI at /docs draws every operation from the bundled assets (Chromium runs with
    background networking off; the page names no external host)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    driver.get(server + "/docs")
    WebDriverWait(driver, 20).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .opblock"))
    )
    operations = driver.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert len(operations) == sum(len(methods) for methods in paths.values())
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded and all(name.startswith(server) for name in loaded), loaded


def _own(browser: Any, server: str, features: dict[str, float], words: list[dict[str, str]]) -> Any:
    """The explorer's own-figures function on a crafted learner and segment."""
    if browser.current_url != server + "/":  # the explorer, not the API docs
        browser.get(server + "/")
    profile = {"name_words": words, "center": {"years_experience": 5}}
    population = {"years_experience": {"p50": 6}, "ctc_inr": {"p50": 1_000_000}}
    return browser.execute_script(
        "const r = ownFacts(arguments[0], arguments[1], arguments[2], arguments[3]);"
        "return {facts: r.facts, against: r.against};",
        features,
        profile,
        population,
        [],
    )


_UNDERPAID = {"kind": "pay_vs_experience", "word": "Underpaid for their experience"}
_LOWER = {"kind": "company_tier", "word": "Lower-paying companies"}


def test_the_learner_s_own_figures_say_when_they_go_against_the_name(
    server: str, browser: Any
) -> None:
    # paid 41 % above experience peers, in an "underpaid" segment at a tier-1 company
    out = _own(
        browser,
        server,
        {"years_experience": 6, "pay_vs_experience": 0.345, "company_tier": 1},
        [_LOWER, _UNDERPAID],
    )
    assert "You are paid 41 % above the median learner with your experience" in " ".join(
        out["facts"]
    )
    assert "You: 6 years of experience (segment median 5; all learners 6)." in out["facts"]
    assert len(out["against"]) == 2
    assert out["against"][0].startswith("you are paid 41 % above peers with your experience")
    assert "most of this segment is paid below" in out["against"][0]
    assert out["against"][1].startswith("your company is tier 1")


def test_the_learner_s_own_figures_stay_silent_when_they_agree_with_the_name(
    server: str, browser: Any
) -> None:
    out = _own(
        browser,
        server,
        {"years_experience": 6, "pay_vs_experience": -0.3, "company_tier": 3},
        [_LOWER, _UNDERPAID],
    )
    assert out["against"] == []
    assert "You are paid 26 % below the median learner with your experience" in " ".join(
        out["facts"]
    )
