"""deploy/prometheus/ in Prometheus itself: the rules pass ``promtool check`` and their unit
tests (``promtool test rules``), and a real Prometheus on 127.0.0.1 with the shipped config,
scraping a live service (keys on) every second with the metrics key, sees it up, reads back the
drift gauges the service computed, and sees it down once it stops.

Skipped, with the reason, where Debian's ``prometheus`` package (``promtool`` and
``prometheus``) is not installed; ``.ci/run`` installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.helpers import REPO, free_port, live_service, raw_learners

DEPLOY = REPO / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
NOT_INSTALLED = "Debian's prometheus package is not installed (apt-get install prometheus; "
"`.ci/run` does it)"

#: The metrics key of the live tests, and the file the shipped config reads it from.
METRICS_KEY = "metrics-key-5c9e1d7a3b"
METRICS_KEY_FILE = "learnseg-metrics-key"
#: The service's other keys: the live service runs with keys, as deployed.
CLIENT_KEY = "client-key-0e4f8a2c6d"

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason=f"no promtool: {NOT_INSTALLED}")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason=f"no prometheus: {NOT_INSTALLED}")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_rules_and_config_pass_promtool_check(tmp_path: Path) -> None:
    """The rules as shipped; the config as shipped, once its metrics key is written beside it
    (the config reads it from there: without it, promtool refuses the config)."""
    rules = _promtool("check", "rules", "learnseg-rules.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 14 rules found" in rules.stdout
    for name in ("prometheus.yml", "learnseg-rules.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    assert PROMTOOL is not None
    check = [PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")]
    refused = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0 and "learnseg-metrics-key" in refused.stdout + refused.stderr
    (tmp_path / METRICS_KEY_FILE).write_text(METRICS_KEY, encoding="utf-8")
    config = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert config.returncode == 0, config.stdout + config.stderr


@needs_promtool
def test_rules_pass_their_promtool_unit_tests() -> None:
    """Each alert pending, firing and resolving at the times its ``for`` says, with its
    annotations, and the recording rules' values (learnseg-rules.test.yml)."""
    done = _promtool("test", "rules", "learnseg-rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
def test_promtool_unit_tests_fail_when_a_rule_is_wrong(tmp_path: Path) -> None:
    """The unit tests bite: the same tests against a drift alert with the wrong band fail."""
    for name in ("learnseg-rules.yml", "learnseg-rules.test.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    rules = tmp_path / "learnseg-rules.yml"
    rules.write_text(
        rules.read_text().replace("learnseg_feature_psi >= 0.25", "learnseg_feature_psi >= 0.5")
    )
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "learnseg-rules.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "LearnsegFeatureDriftMajor" in done.stdout + done.stderr


# --------------------------------------------------------------------- a real Prometheus
@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Yields (its URL, the folder to write its config in); started by :func:`_start`."""
    yield f"http://127.0.0.1:{free_port()}", tmp_path


def _start(url: str, folder: Path, target: str) -> subprocess.Popen[bytes]:
    """Prometheus on 127.0.0.1 with deploy/prometheus's config and rules, scraping `target`
    every second with the metrics key written beside the config, where the config reads it.

    Of the shipped config only the target and the two intervals are rewritten (the intervals
    so that the test takes seconds); its authorization is used as shipped."""
    shutil.copy(DEPLOY / "learnseg-rules.yml", folder / "learnseg-rules.yml")
    (folder / METRICS_KEY_FILE).write_text(METRICS_KEY + "\n", encoding="utf-8")
    config = (DEPLOY / "prometheus.yml").read_text(encoding="utf-8")
    config = config.replace("scrape_interval: 15s", "scrape_interval: 1s")
    config = config.replace("evaluation_interval: 15s", "evaluation_interval: 1s")
    assert config.count('"127.0.0.1:8000"') == 1
    config = config.replace('"127.0.0.1:8000"', f'"{target}"')
    (folder / "prometheus.yml").write_text(config, encoding="utf-8")
    assert PROMETHEUS is not None
    with (folder / "prometheus.log").open("wb") as log:
        return subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={url.removeprefix('http://')}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _wait(check: Any, what: str, log: Path, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except httpx.TransportError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise AssertionError(f"{what} within {timeout:.0f} s; Prometheus said:\n{tail}")
        time.sleep(0.25)


def _up(url: str) -> list[str]:
    return [sample["value"][1] for sample in _query(url, 'up{job="learnseg"}')]


@needs_prometheus
def test_prometheus_scrapes_a_live_service_with_the_shipped_config(
    service_model_dir: Path,
    small_raw: pd.DataFrame,
    prometheus: tuple[str, Path],
    tmp_path: Path,
) -> None:
    """A live service with keys on (a client key, a metrics key), and a real Prometheus with the
    shipped prometheus.yml scraping it every second: up == 1 (the metrics key is accepted), the
    drift gauges read back with the service's own values (learners paid 3x), the recording rule
    and the rules loaded; then the service stops: up == 0, and LearnsegTargetDown and
    LearnsegAllDown are pending (their promtool tests show them firing 2 minutes later)."""
    url, folder = prometheus
    rows = small_raw.sample(n=2000, random_state=3).reset_index(drop=True)
    rows["ctc"] = rows["ctc"] * 3
    learners = [x for x in raw_learners(rows) if (x["ctc"] or 0) > 0]
    env = {
        "LEARNSEG_API_KEYS": f"lms:{CLIENT_KEY}",
        "LEARNSEG_METRICS_KEYS": f"prometheus:{METRICS_KEY}",
    }
    headers = {"X-API-Key": CLIENT_KEY}
    log = folder / "prometheus.log"
    process = None
    try:
        with live_service(service_model_dir, tmp_path / "service.log", env=env) as service:
            answer = httpx.post(
                f"{service.url}/segment/batch",
                json={"learners": learners},
                headers=headers,
                timeout=60,
            )
            assert answer.status_code == 200
            assert httpx.get(f"{service.url}/metrics", timeout=10).status_code == 401
            drift = httpx.get(f"{service.url}/model/drift", headers=headers, timeout=10).json()
            process = _start(url, folder, f"127.0.0.1:{service.port}")
            _wait(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, "ready", log)
            _wait(lambda: _up(url) == ["1"], "up was not 1", log)
            expected = {f["feature"]: f["psi"] for f in drift["window"]["features"]}
            _check_drift_gauges(url, expected, log)
            scrapes = [
                line
                for line in service.output().splitlines()
                if '"path":"/metrics"' in line and '"status":200' in line
            ]
            assert scrapes and all('"key_id":"prometheus"' in line for line in scrapes)
        _wait(lambda: _up(url) == ["0"], "up did not turn 0 with the service stopped", log)

        def pending() -> set[str]:
            alerts = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            return {a["labels"]["alertname"] for a in alerts if a["state"] == "pending"}

        _wait(
            lambda: {"LearnsegTargetDown", "LearnsegAllDown"} <= pending(),
            "the scrape alerts are not pending",
            log,
        )
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _check_drift_gauges(url: str, expected: dict[str, float], log: Path) -> None:
    """learnseg_feature_psi for every model feature with the service's value, the served segment
    shares summing to 1, the recording rule's maximum, and every alert rule loaded."""
    samples = _wait(
        lambda: (
            (found := _query(url, "learnseg_feature_psi")) and len(found) == len(expected) and found
        ),
        "learnseg_feature_psi was not scraped",
        log,
    )
    got = {s["metric"]["feature"]: float(s["value"][1]) for s in samples}
    assert got == pytest.approx(expected, rel=1e-9)
    assert got["pay_vs_experience"] >= 0.25  # the shift the learners carry
    assert all(s["metric"]["job"] == "learnseg" for s in samples)
    shares = _query(url, 'learnseg_segment_share{source="served"}')
    assert sum(float(s["value"][1]) for s in shares) == pytest.approx(1.0)
    recorded = _wait(lambda: _query(url, "learnseg:feature_psi:max"), "no recording rule", log)
    assert float(recorded[0]["value"][1]) == pytest.approx(max(expected.values()))
    rules = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    alerts = {r["name"] for g in rules for r in g["rules"] if r["type"] == "alerting"}
    assert alerts == {
        "LearnsegTargetDown",
        "LearnsegAllDown",
        "LearnsegModelNotReady",
        "LearnsegHigh5xxRate",
        "LearnsegSlowP99",
        "LearnsegFeatureDriftMajor",
        "LearnsegSegmentShareShift",
        "LearnsegUnknownTitlesRise",
    }
