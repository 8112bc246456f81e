"""deploy/prometheus/ in Prometheus itself: the rules pass ``promtool check`` and their unit
tests (``promtool test rules``), and a real Prometheus on 127.0.0.1, scraping a live service
every second, reads back the drift gauges the service computed.

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

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason=f"no promtool: {NOT_INSTALLED}")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason=f"no prometheus: {NOT_INSTALLED}")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_rules_and_config_pass_promtool_check() -> None:
    rules = _promtool("check", "rules", "learnseg-rules.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 12 rules found" in rules.stdout
    config = _promtool("check", "config", "prometheus.yml")
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
    """Prometheus on 127.0.0.1 with deploy/prometheus's rules, scraping `target` every second."""
    shutil.copy(DEPLOY / "learnseg-rules.yml", folder / "learnseg-rules.yml")
    config = (DEPLOY / "prometheus.yml").read_text(encoding="utf-8")
    config = config.replace("scrape_interval: 15s", "scrape_interval: 1s")
    config = config.replace("evaluation_interval: 15s", "evaluation_interval: 1s")
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


@needs_prometheus
def test_prometheus_scrapes_the_drift_gauges_of_a_live_service(
    service_model_dir: Path,
    small_raw: pd.DataFrame,
    prometheus: tuple[str, Path],
    tmp_path: Path,
) -> None:
    """Learners paid 3x sent to a live service; Prometheus, scraping it every second, holds
    learnseg_feature_psi for every model feature with the service's own value, the segment
    shares, and has loaded the recording and alerting rules."""
    url, folder = prometheus
    rows = small_raw.sample(n=2000, random_state=3).reset_index(drop=True)
    rows["ctc"] = rows["ctc"] * 3
    learners = [x for x in raw_learners(rows) if (x["ctc"] or 0) > 0]
    with live_service(service_model_dir, tmp_path / "service.log") as service:
        answer = httpx.post(f"{service.url}/segment/batch", json={"learners": learners}, timeout=60)
        assert answer.status_code == 200
        drift = httpx.get(f"{service.url}/model/drift", timeout=10).json()["window"]
        process = _start(url, folder, f"127.0.0.1:{service.port}")
        try:
            log = folder / "prometheus.log"
            _wait(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, "ready", log)
            expected = {f["feature"]: f["psi"] for f in drift["features"]}
            samples = _wait(
                lambda: (
                    (found := _query(url, "learnseg_feature_psi"))
                    and len(found) == len(expected)
                    and found
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
            recorded = _wait(
                lambda: _query(url, "learnseg:feature_psi:max"), "no recording rule value", log
            )
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
            }
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
