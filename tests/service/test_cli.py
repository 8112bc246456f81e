"""``python -m service``: flags over environment, one-sentence errors, a real server, no pandas."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.__main__ import main, settings_from_args
from tests.helpers import JUNK, LEARNERS, REPO, free_port, service_env
from training.run import TrainingResult


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=service_env(),
    )
    assert result.returncode == 0, result.stderr
    for flag in ("--model-dir", "--host", "--port", "--workers", "--log-level"):
        assert flag in result.stdout


def test_defaults(no_learnseg_env: pytest.MonkeyPatch) -> None:
    settings = settings_from_args([])
    assert (settings.model_dir, settings.host, settings.port, settings.workers) == (
        Path("models"),
        "127.0.0.1",
        8000,
        1,
    )
    assert settings.max_batch == 10_000 and settings.docs and settings.api_keys == ()


def test_flags_override_the_environment(no_learnseg_env: pytest.MonkeyPatch) -> None:
    env = no_learnseg_env
    env.setenv("LEARNSEG_MODEL_DIR", "/srv/env-models")
    env.setenv("LEARNSEG_PORT", "9001")
    env.setenv("LEARNSEG_HOST", "0.0.0.0")
    env.setenv("LEARNSEG_API_KEYS", " alpha, beta ,,")
    env.setenv("LEARNSEG_MAX_BATCH", "500")
    env.setenv("LEARNSEG_DOCS", "false")
    env.setenv("LEARNSEG_LOG_LEVEL", "WARNING")
    env.setenv("LEARNSEG_K_MAX", "9")  # a training setting: ignored here
    from_env = settings_from_args([])
    assert from_env.model_dir == Path("/srv/env-models") and from_env.port == 9001
    assert from_env.host == "0.0.0.0" and from_env.api_keys == ("alpha", "beta")
    assert from_env.max_batch == 500 and not from_env.docs and from_env.log_level == "warning"
    flags = settings_from_args(
        ["--model-dir", "/srv/flag-models", "--port", "9002", "--workers", "2"]
    )
    assert flags.model_dir == Path("/srv/flag-models") and flags.port == 9002
    assert flags.workers == 2 and flags.host == "0.0.0.0"  # not given as a flag: env still


def test_a_bad_setting_is_one_sentence(
    no_learnseg_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--port", "0"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "error: setting port: Input should be greater than or equal to 1.\n"
    )
    no_learnseg_env.setenv("LEARNSEG_MAX_BATCH", "many")
    with pytest.raises(SystemExit):
        main([])
    assert "setting max_batch" in capsys.readouterr().err


def test_real_server_logs_json_lines_without_secrets(service_model_dir: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "--model-dir",
            str(service_model_dir),
            "--port",
            str(port),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=service_env(LEARNSEG_API_KEYS="lms:k-e2e-secret"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        headers = {"X-API-Key": "k-e2e-secret", "X-Request-ID": "e2e-1"}
        junk = {**JUNK, "learner_id": "lms-learner-e2e-0"}
        single = httpx.post(f"{base}/segment", json=junk, headers=headers, timeout=10)
        assert single.status_code == 200 and single.headers["x-request-id"] == "e2e-1"
        assert single.json()["learner_id"] == "lms-learner-e2e-0"
        learners = [{**x, "learner_id": f"lms-learner-e2e-{i + 1}"} for i, x in enumerate(LEARNERS)]
        batch = httpx.post(
            f"{base}/segment/batch", json={"learners": learners}, headers=headers, timeout=10
        )
        assert batch.status_code == 200 and len(batch.json()["results"]) == len(LEARNERS)
        bad = httpx.post(f"{base}/segment", json={**junk, "ctc": -1}, headers=headers, timeout=10)
        assert bad.status_code == 422
        assert httpx.get(f"{base}/model", timeout=10).status_code == 401
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    lines = [line for line in out.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [r for r in records if r["logger"] == "service.access"]
    assert any(r["request_id"] == "e2e-1" and r["path"] == "/segment" for r in access)
    keyed = [r for r in access if r["status"] == 200 and not r["path"].startswith("/health/")]
    assert len(keyed) == 2 and {r.get("key_id") for r in keyed} == {"lms"}
    assert any(r["status"] == 401 for r in access)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's own, as JSON
    assert "HTTP/1.1" not in out  # uvicorn's access log is off
    assert "Traceback" not in out + err
    for secret in ("k-e2e-secret", JUNK["email_hash"], JUNK["company_hash"], "lms-learner-e2e"):
        assert secret not in out + err


# The whole service (start-up, verification, the pipeline check, both assignment paths) runs as if
# pandas, matplotlib and pyspark were not installed; scikit-learn is imported only by unpickling
# the fitted pipeline (the allow-listed classes), never by the service's own modules.
NO_PANDAS = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pandas", "matplotlib", "pyspark"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
import service.main, service.segmenter
assert not any(name.split(".")[0] == "sklearn" for name in sys.modules), "imported sklearn"
import warnings
from pathlib import Path
from starlette.exceptions import StarletteDeprecationWarning
warnings.simplefilter("ignore", StarletteDeprecationWarning)
from fastapi.testclient import TestClient
from service.config import ServiceSettings
from service.main import create_app

settings = ServiceSettings(model_dir=Path(sys.argv[1]), api_keys=())
with TestClient(create_app(settings)) as client:
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    one = client.post("/segment", json={"ctc": 1e6, "orgyear": 2016, "company_hash": "a"})
    assert one.status_code == 200, one.text
    many = client.post("/segment/batch", json={"learners": [{"ctc": 1e6}] * 50})
    assert many.status_code == 200, many.text
assert "pandas" not in sys.modules and "sklearn.cluster._kmeans" in sys.modules
print("ok")
"""


def _run_blocked(model_dir: Path) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(NO_PANDAS)
    return subprocess.run(
        [sys.executable, "-c", code, str(model_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=service_env(),
    )


def test_serves_with_pandas_matplotlib_and_pyspark_blocked(service_model_dir: Path) -> None:
    result = _run_blocked(service_model_dir)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "learnseg.example"])
def test_refuses_to_serve_anyone_on_a_public_interface_without_keys(
    host: str, no_learnseg_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--host", host])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: refusing to serve on {host} without any key: set LEARNSEG_API_KEYS (and "
        "LEARNSEG_ADMIN_KEYS to reload), listen on 127.0.0.1, or set "
        "LEARNSEG_ALLOW_ANONYMOUS=true to serve anyone who can reach the port.\n"
    )


@pytest.mark.parametrize(
    ("host", "env"),
    [
        ("127.0.0.1", {}),
        ("::1", {}),
        ("localhost", {}),
        ("0.0.0.0", {"LEARNSEG_ALLOW_ANONYMOUS": "true"}),
        ("0.0.0.0", {"LEARNSEG_API_KEYS": "k1"}),
        ("0.0.0.0", {"LEARNSEG_ADMIN_KEYS": "a1"}),
    ],
)
def test_starts_on_loopback_with_keys_or_when_told(
    host: str, env: dict[str, str], no_learnseg_env: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        no_learnseg_env.setenv(name, value)
    started: list[dict[str, object]] = []
    import uvicorn

    no_learnseg_env.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    main(["--host", host])
    assert [call["host"] for call in started] == [host]


def test_an_anonymous_start_is_logged_as_a_warning(tmp_path: Path) -> None:
    port = free_port()
    env = service_env(LEARNSEG_MODEL_DIR=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0]
    warnings = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and json.loads(line).get("level") == "warning"
    ]
    assert any(
        w["logger"] == "service.main" and w["msg"].startswith("No API key is configured")
        for w in warnings
    ), output


def test_sigterm_drains_readiness_503_while_a_long_batch_finishes(
    trained_small: TrainingResult, tmp_path: Path
) -> None:
    """SIGTERM: readiness turns 503 at once (new connections still accepted), the batch in
    flight finishes with 200, then the process shuts down on its own."""
    port = free_port()
    learners = [dict(LEARNERS[i % len(LEARNERS)]) for i in range(150_000)]
    env = service_env(
        LEARNSEG_MODEL_DIR=str(trained_small.folder.parent),
        LEARNSEG_MAX_BATCH="150000",
        LEARNSEG_MAX_BODY_BYTES=str(64 * 1024 * 1024),
    )
    log = tmp_path / "service.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        body = json.dumps({"learners": learners}).encode()
        result: dict[str, Any] = {}

        def long_batch() -> None:
            response = httpx.post(
                f"{base}/segment/batch",
                content=body,
                headers={"content-type": "application/json"},
                timeout=120,
            )
            result["status"] = response.status_code
            result["results"] = len(response.json()["results"])

        sender = threading.Thread(target=long_batch)
        sender.start()
        time.sleep(0.3)  # the body is on its way: the batch is in flight
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        ready = httpx.get(f"{base}/health/ready", timeout=5)
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "2"
        assert ready.json() == {
            "detail": "The service is shutting down: it finishes the requests in flight and "
            "takes no new work."
        }
        assert httpx.get(f"{base}/health/live", timeout=5).status_code == 200
        sender.join(timeout=120)
        assert result == {"status": 200, "results": len(learners)}
        # uvicorn ends by re-raising the signal it caught, as a process manager expects
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    text = log.read_text()
    assert "Draining: readiness answers 503" in text
    assert text.index("Draining") < text.index("Application shutdown complete")


def _socket_owner(pids: set[int], client_port: int, server_port: int) -> int | None:
    """Which of `pids` holds the server side of the connection from `client_port` (Linux /proc:
    the socket's inode in /proc/net/tcp, then the process whose descriptors hold it)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _json_lines(log: Path) -> list[dict[str, Any]]:
    text = log.read_text(encoding="utf-8", errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_sigterm_turns_every_worker_unready_with_two_workers(
    trained_small: TrainingResult, tmp_path: Path
) -> None:
    """`--workers 2`, SIGTERM to the supervisor (what Kubernetes sends to PID 1): both workers
    turn unready at once (readiness 503 from each, every answer 503), each finishes the request
    it has in flight with 200, then both stop and the supervisor exits."""
    port = free_port()
    env = service_env(
        LEARNSEG_MODEL_DIR=str(trained_small.folder.parent), LEARNSEG_DRAIN_SECONDS="20"
    )
    log = tmp_path / "service.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port), "--workers", "2"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while len(workers) < 2:
            lines = _json_lines(log)
            workers = {r["pid"] for r in lines if str(r.get("msg", "")).startswith("Serving")}
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        while httpx.get(f"{base}/health/ready", timeout=2).status_code != 200:
            time.sleep(0.1)
        # A request in flight in each worker: headers and half a body sent, the rest held back.
        body = json.dumps(LEARNERS[0]).encode()
        head = (
            f"POST /segment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        owners: dict[int, int] = {}
        while set(owners.values()) != workers:
            assert len(held) < 40, f"the connections all went to {set(owners.values())}"
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            conn.sendall(head + body[: len(body) // 2])
            held.append(conn)
            time.sleep(0.2)
            owner = _socket_owner(workers, conn.getsockname()[1], port)
            if owner is not None:
                owners[conn.getsockname()[1]] = owner

        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        answers = [httpx.get(f"{base}/health/ready", timeout=5) for _ in range(20)]
        assert [a.status_code for a in answers] == [503] * 20
        assert all(a.headers["Retry-After"] == "2" for a in answers)

        for conn in held:  # the rest of each body: every request in flight is answered
            conn.sendall(body[len(body) // 2 :])
        statuses = []
        for conn in held:
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
            statuses.append(reply.split(b" ", 2)[1])
        assert statuses == [b"200"] * len(held)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        for conn in held:
            conn.close()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    lines = _json_lines(log)
    draining = {r["pid"] for r in lines if str(r["msg"]).startswith("Draining: readiness")}
    assert draining == workers
    unready = {
        r["pid"]
        for r in lines
        if r["logger"] == "service.access" and r["path"] == "/health/ready" and r["status"] == 503
    }
    assert unready == workers
    assert "Traceback" not in log.read_text()
