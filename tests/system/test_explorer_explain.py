"""The explorer's "Why and what if" panel, notices, report link and glossary, in a real headless
Chromium.

Two live services of the same model: the service as it is (where ``POST /v1/segment/explain`` may
be missing: the panel must say so), and one with that route added inside this test when the
service has none, answering as the contract says (the ``/segment`` answer plus the runtime
Explainer's ``why``, ``what_if``, ``path`` and ``resolution``). Screenshots go to
``test-output/explorer-explain*.png``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import (
    HAS_CHROMIUM,
    NO_CHROMIUM,
    REPO,
    free_port,
    headless_chromium,
    service_settings,
)
from training.run import TrainingResult

OUTPUT = REPO / "test-output"
EXPLAIN = "/v1/segment/explain"

pytestmark = pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM)


def _has_explain(app: Any) -> bool:
    # The OpenAPI document, not app.routes: included routers do not list their paths there.
    return EXPLAIN in app.openapi()["paths"]


def _add_stub(app: Any, trained: TrainingResult, base: list[str]) -> None:
    """``POST /v1/segment/explain`` in its smallest form, for this test only."""
    from training.runtime.explain import Explainer
    from training.runtime.loader import load_model

    model = load_model(trained.folder)
    explainer = Explainer(model.kernel, model.cohorts, model.names())

    def explain_learner(learner: dict[str, Any]) -> dict[str, Any]:
        placed = httpx.post(base[0] + "/v1/segment", json=learner, timeout=10).json()
        return {**placed, **explainer.explain(learner)}

    app.add_api_route(EXPLAIN, explain_learner, methods=["POST"])


def _serve(trained: TrainingResult, *, stub: bool) -> Iterator[str]:
    import uvicorn

    from service.main import create_app

    app = create_app(service_settings(trained.folder.parent))
    base = [f"http://127.0.0.1:{free_port()}"]
    if stub and not _has_explain(app):
        _add_stub(app, trained, base)
    if not stub and _has_explain(app):
        pytest.skip("the service answers POST /v1/segment/explain: no 404 to show")
    port = int(base[0].rsplit(":", 1)[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.started, "the service did not start within 30 s"
        yield base[0]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def plain(trained_small: TrainingResult) -> Iterator[str]:
    yield from _serve(trained_small, stub=False)


@pytest.fixture(scope="module")
def explaining(trained_small: TrainingResult) -> Iterator[str]:
    yield from _serve(trained_small, stub=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium("--window-size=1280,1600") as driver:
        yield driver


LEARNER = {
    "ctc": "1200000",
    "orgyear": "2016",
    "job_position": "Backend Engineer",
    "company_hash": "xzegojo",
    "ctc_updated_year": "2020",
}


def _place(driver: Any, server: str, learner: dict[str, str]) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server + "/")
    wait = WebDriverWait(driver, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#segments .card")))
    for name in LEARNER:
        field = driver.find_element(By.NAME, name)
        field.clear()
        if learner.get(name):
            field.send_keys(learner[name])
    driver.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "assignment")))
    return wait


def _full_page(driver: Any, name: str) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(1600, int(height)))
    OUTPUT.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT / name))
    driver.set_window_size(1280, 1600)
    assert (OUTPUT / name).stat().st_size > 10_000


def test_the_panel_says_when_the_service_has_no_explain(plain: str, browser: Any) -> None:
    """Without the route the panel says so in one sentence; the placement still stands, with a
    warning that without a title the track is unknown and the course generic."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    wait = _place(browser, plain, {**LEARNER, "job_position": ""})
    missing = wait.until(ec.presence_of_element_located((By.ID, "explain-missing")))
    assert missing.text == (
        "Why and what if is not available: this service has no POST /v1/segment/explain (it "
        "answered 404). The placement above stands; update the service to see why and what "
        "would move the learner."
    )
    assert missing.get_attribute("title").startswith("There is no route")
    assert browser.find_element(By.ID, "assignment").get_attribute("data-segment-id")
    no_title = browser.find_element(By.ID, "no-title").text
    assert no_title.startswith("No job title given: the track is unknown")
    course = browser.find_element(By.ID, "track-course")
    assert course.get_attribute("data-track") == "unknown"
    _full_page(browser, "explorer-explain-404.png")


def test_notices_report_link_and_glossary(explaining: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(explaining + "/")
    info = httpx.get(explaining + "/v1/model").json()
    assert info["data"]["name"] == "embedded default"
    notice = browser.find_element(By.ID, "synthetic")
    assert notice.is_displayed()
    assert notice.text.startswith("Synthetic data. This model was trained on the embedded")
    link = browser.find_element(By.ID, "report-link")
    assert link.get_attribute("href") == explaining + "/v1/report"
    report = httpx.get(link.get_attribute("href"))
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<section id='paths'>" in report.text
    # the report's images, relative to it, are the API's plots
    assert httpx.get(explaining + "/v1/plots/profile_heatmap.png").status_code == 200
    browser.find_element(By.CSS_SELECTOR, "#glossary summary").click()
    terms = [dt.text for dt in browser.find_elements(By.CSS_SELECTOR, "#glossary dt")]
    for word in ("Segment", "Track", "Course", "Confidence", "Company tier", "CTC, LPA"):
        assert word in terms
    # a title given: no warning
    _place(browser, explaining, LEARNER)
    assert not browser.find_elements(By.ID, "no-title")


def test_the_panel_shows_why_what_if_and_the_path(explaining: str, browser: Any) -> None:
    """Every input's bar, every what-if entry as a sentence with its segment and course (or
    the reason nothing moves the learner), and the path after 1, 2, 3 and 5 years, as the
    endpoint answers them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    wait = _place(browser, explaining, LEARNER)
    panel = wait.until(ec.presence_of_element_located((By.ID, "explain-panel")))
    body = {k: (v if k in ("job_position", "company_hash") else int(v)) for k, v in LEARNER.items()}
    answer = httpx.post(explaining + EXPLAIN, json=body, timeout=10).json()
    labels = panel.find_elements(By.CSS_SELECTOR, "#why span[data-input]")
    assert [x.get_attribute("data-input") for x in labels] == [w["input"] for w in answer["why"]]
    runner = answer["runner_up"]["segment_id"]
    for label, w in zip(labels, answer["why"], strict=True):
        # the direction of each input's pull in words, never a raw share of the gap
        assert label.text.startswith(w["label"] + "\n") and "%" not in label.text
        if w["share_of_gap"] > 0.01:
            assert label.text.endswith("pulls towards this segment")
        elif w["share_of_gap"] < -0.01:
            assert label.text.endswith(f"pulls towards segment {runner}")
    bars = panel.find_elements(By.CSS_SELECTOR, "#why .bar span")
    assert len(bars) == len(answer["why"])
    widest = max(answer["why"], key=lambda w: abs(w["share_of_gap"]))
    assert bars[answer["why"].index(widest)].size["width"] == max(b.size["width"] for b in bars)
    gains = [
        e
        for e in answer["what_if"]
        if e["segment_id"] is not None
        and (e["input"], e["direction"]) not in {("pay", "less"), ("company_tier", "lower-paying")}
    ]
    items = panel.find_elements(By.CSS_SELECTOR, "#what-if li")
    assert len(items) == len(gains)
    for item, entry in zip(items, gains, strict=True):
        where = (
            f", the learner would be in segment {entry['segment_id']}, "
            f"{entry['segment_name']} (course: {entry['course_name']})."
        )
        if entry["input"] == "pay" and entry["relative"] > 0.5:
            assert item.text.startswith("Only with a much larger raise (+") and item.text.endswith(
                where
            )
        else:
            lead = "Working" if entry["input"] == "company_tier" else "With"
            assert item.text == f"{lead} {entry['change']}{where}"
    losses = [e for e in answer["what_if"] if e["segment_id"] is not None and e not in gains]
    also = panel.find_elements(By.ID, "also-moves")
    assert len(also) == (1 if losses else 0)
    for entry in losses:
        assert entry["change"] in also[0].text
    path = [li.text for li in panel.find_elements(By.CSS_SELECTOR, "#path li")]
    assert [p["years"] for p in answer["path"]] == [1, 2, 3, 5]
    for text, step in zip(path, answer["path"], strict=True):
        plural = "s" if step["years"] > 1 else ""
        assert text.startswith(
            f"After {step['years']} year{plural}: segment {step['segment_id']}, "
            f"{step['segment_name']} (course: {step['course_name']})"
        )
    _full_page(browser, "explorer-explain.png")


def _crafted(browser: Any, server: str, answer: dict[str, Any]) -> str:
    """The explorer's panel of a crafted explain answer, as text."""
    if browser.current_url != server + "/":
        browser.get(server + "/")
    return str(
        browser.execute_script(
            "const panel = renderExplain(arguments[0]);"
            "document.getElementById('explain').replaceChildren(panel);"
            "return panel.innerText;",
            answer,
        )
    )


def _move(input_: str, direction: str | None, change: str, **more: Any) -> dict[str, Any]:
    return {
        "input": input_,
        "direction": direction,
        "segment_id": 2,
        "segment_name": "Other",
        "course": "c",
        "course_name": "Course C",
        "change": change,
        "request_change": {},
        "reason": None,
        **more,
    }


_STAY = [
    {"years": n, "segment_id": 1, "segment_name": "Here", "course": "c", "course_name": "C"}
    for n in (1, 2, 3, 5)
]
_WHY = [
    {
        "input": "years_experience",
        "label": "Years of experience",
        "unit": "years",
        "value": 9,
        "segment": 8,
        "runner_up": 3,
        "share_of_gap": 1.28,
    },
    {
        "input": "company_tier",
        "label": "Company tier",
        "unit": "tier",
        "value": 2,
        "segment": 2.4,
        "runner_up": 1.9,
        "share_of_gap": -0.35,
    },
]


def test_the_panel_puts_gains_first_and_says_big_raises_and_settled_placements_plainly(
    explaining: str, browser: Any
) -> None:
    """Shares above 100 % or below zero read as pulls; a cut and a lower-paying company are
    set apart from the goals; a raise above half the pay is out of reach; nothing moving and
    a path that stays read as one sentence."""
    none = {"segment_id": None, "change": None, "reason": "no move"}
    answer = {
        "segment_id": 1,
        "runner_up": {"segment_id": 4, "distance": 1.0},
        "why": _WHY,
        "what_if": [
            _move("pay", "more", "INR 7.1 LPA more (+235 %)", relative=2.35),
            _move("pay", "less", "INR 1 LPA less (-10 %)", relative=-0.1),
            _move(
                "company_tier", "lower-paying", "at a tier-3 (lower-paying) company instead of 2"
            ),
            _move("experience", "more", "2 more years of experience at the same CTC"),
            {"input": "track", "direction": None, **none},
        ],
        "path": _STAY,
    }
    shown = _crafted(browser, explaining, answer)
    assert "128" not in shown and "-35" not in shown and "%" not in shown.split("What would")[0]
    assert "Years of experience\npulls towards this segment" in shown
    assert "Company tier\npulls towards segment 4" in shown
    lines = [x for x in shown.split("What would move the learner:")[1].splitlines() if x]
    assert lines[0].startswith("Only with a much larger raise (+235 %), the learner would be in")
    assert lines[1].startswith("With 2 more years of experience at the same CTC")
    assert lines[2] == (
        "Would also move the learner: INR 1 LPA less (-10 %) (to segment 2, Other (course: "
        "Course C)); a job at a tier-3 (lower-paying) company instead of 2 (to segment 2, Other "
        "(course: Course C))."
    )
    settled = {
        **answer,
        "what_if": [
            {"input": i, "direction": d, **none}
            for i, d in (("pay", "more"), ("pay", "less"), ("company_tier", None))
        ],
    }
    shown = _crafted(browser, explaining, settled)
    assert "Your placement is settled: no single change within the model's range moves you." in (
        shown
    )
    assert "What would move" not in shown


def test_the_form_has_hints_not_values_and_the_placement_shows_its_career_help(
    explaining: str, browser: Any
) -> None:
    """A user typing two fields gets no one else's values: the fields are empty with grey
    examples, CTC marked required; under the placement, the segment's actions."""
    from selenium.webdriver.common.by import By

    browser.get(explaining + "/")
    for name in LEARNER:
        field = browser.find_element(By.NAME, name)
        assert field.get_attribute("value") == ""
        assert field.get_attribute("placeholder").startswith("e.g. ")
    ctc = browser.find_element(By.NAME, "ctc")
    assert ctc.get_attribute("required") is not None
    assert "*" in browser.find_element(By.XPATH, "//input[@name='ctc']/..").text
    _place(browser, explaining, LEARNER)
    card = browser.find_element(By.ID, "assignment")
    profile = httpx.get(f"{explaining}/v1/segments/{card.get_attribute('data-segment-id')}").json()
    help_ = browser.find_element(By.ID, "segment-help")
    items = help_.find_elements(By.CSS_SELECTOR, "li")
    assert [i.get_attribute("data-rule") for i in items] == [a["rule"] for a in profile["actions"]]
    for item, action in zip(items, profile["actions"], strict=True):
        assert item.text.startswith(action["text"])
    if not profile["actions"]:
        assert help_.text.startswith("Career help: ")
    _full_page(browser, "explorer-explain-help.png")
