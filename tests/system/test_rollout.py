"""A rollout across the workers of one live service (``python -m service`` with two workers),
and across two service processes on one models folder.

A new model published while the service runs (``models/LATEST`` changes) is served by every
worker within one polling interval, each verifying it first; a reload over HTTP, which reaches
one worker, reaches the other through the reload signal within one polling interval too. A
process that starts (or restarts) on the folder holds the last versions on disk, so a run
pinned to the previous version is answered by every replica.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.helpers import (
    ADMIN_HEADERS,
    ADMIN_KEY,
    LEARNERS,
    copy_models,
    free_port,
    live_service,
    running_service,
    service_env,
    small_training_settings,
)
from training.run import TrainingResult, run

POLL_SECONDS = 0.5
#: Loading and verifying a small model takes well under a second; on a busy 2-core machine
#: give each worker this much on top of the polling interval.
LOAD_MARGIN = 6.0


def _versions_seen(url: str, requests: int = 24) -> set[str]:
    """The versions answering `requests` requests, each on a new connection (so the kernel
    hands them to either worker)."""
    seen = set()
    for _ in range(requests):
        response = httpx.get(f"{url}/health/ready", timeout=5)
        seen.add(response.headers["X-Model-Version"])
    return seen


def _until_all_serve(url: str, version: str, within: float) -> float:
    start = time.monotonic()
    while _versions_seen(url) != {version}:
        if time.monotonic() - start > within:
            raise AssertionError(f"not every worker served {version} within {within} s")
        time.sleep(0.05)
    return time.monotonic() - start


def _log_lines(log: Path, message: str) -> list[dict[str, object]]:
    lines = []
    for text in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            if str(line.get("msg", "")).startswith(message):
                lines.append(line)
    return lines


def test_two_workers_follow_latest_and_each_others_reloads(
    service_model_dir: Path, trained_small: TrainingResult, tmp_path: Path
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    first = trained_small.version
    log = tmp_path / "service.log"
    env = {
        "LEARNSEG_WORKERS": "2",
        "LEARNSEG_POLL_SECONDS": str(POLL_SECONDS),
        "LEARNSEG_ADMIN_KEYS": ADMIN_KEY,
    }
    with live_service(model_dir, log, env=env) as service:
        assert _versions_seen(service.url) == {first}

        second = run(small_training_settings(model_dir, seed=3)).version  # LATEST changes
        _until_all_serve(service.url, second, POLL_SECONDS + LOAD_MARGIN)
        switched = _log_lines(log, f"Switching to model {second}: LATEST names it")
        assert len({line["pid"] for line in switched}) == 2, switched

        info = httpx.get(f"{service.url}/v1/model", headers=ADMIN_HEADERS, timeout=5).json()
        assert info["serving"]["follows_latest"] is True
        assert info["serving"]["loaded_versions"] == [second, first]

        # A rollback over HTTP reaches one worker; the other follows through the signal.
        rollback = httpx.post(
            f"{service.url}/v1/admin/reload",
            json={"version": first},
            headers=ADMIN_HEADERS,
            timeout=30,
        )
        assert rollback.status_code == 200, rollback.text
        _until_all_serve(service.url, first, POLL_SECONDS + LOAD_MARGIN)
        followed = _log_lines(log, f"Switching to model {first}: another worker reloaded")
        assert len(followed) == 1, followed
        # ...and neither drifts back to LATEST (which still names the second model).
        time.sleep(3 * POLL_SECONDS)
        assert _versions_seen(service.url) == {first}


def _start_replica(stack: ExitStack, model_dir: Path, port: int, log: Path) -> str:
    command = [sys.executable, "-m", "service", "--model-dir", str(model_dir), "--port", str(port)]
    env = service_env(LEARNSEG_POLL_SECONDS=str(POLL_SECONDS))
    return stack.enter_context(running_service(command, env, port, log))


def test_a_pinned_run_is_answered_by_a_replica_that_restarted(
    service_model_dir: Path, trained_small: TrainingResult, tmp_path: Path
) -> None:
    """Two service processes on one models folder (two replicas on a shared volume). A new model
    lands, both serve it and keep the previous one; then one replica restarts (an autoscaler's
    new pod) and, loading the last versions on disk at start, answers a run pinned to the
    previous version as the one that kept running does."""
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    first = trained_small.version
    learners = [{**LEARNERS[i % len(LEARNERS)], "learner_id": f"u-{i}"} for i in range(500)]
    ports = [free_port(), free_port()]
    with ExitStack() as a_stack:
        a = _start_replica(a_stack, model_dir, ports[0], tmp_path / "a.log")
        with ExitStack() as b_stack:
            b = _start_replica(b_stack, model_dir, ports[1], tmp_path / "b.log")
            second = run(small_training_settings(model_dir, seed=3)).version  # LATEST changes
            for url in (a, b):
                _until_all_serve(url, second, POLL_SECONDS + LOAD_MARGIN)
        # b stopped; it starts again on the same folder and port
        with ExitStack() as b_stack:
            b = _start_replica(b_stack, model_dir, ports[1], tmp_path / "b-restarted.log")
            answers = []
            for url in (a, b):
                held = httpx.get(f"{url}/v1/model", timeout=10).json()["serving"]
                assert held["version"] == second and held["loaded_versions"] == [second, first]
                response = httpx.post(
                    f"{url}/v1/segment/batch",
                    params={"version": first, "compact": "true"},
                    json={"learners": learners},
                    timeout=30,
                )
                assert response.status_code == 200, response.text
                assert response.headers["X-Model-Version"] == first
                results = response.json()["results"]
                assert {r["model_version"] for r in results} == {first}
                assert [r["learner_id"] for r in results] == [x["learner_id"] for x in learners]
                answers.append(results)
            assert answers[0] == answers[1]
    restarted = _log_lines(tmp_path / "b-restarted.log", "Serving model")
    assert str(restarted[0]["msg"]).endswith(f"; versions held: {second}, {first}.")
