"""Helpers shared by the tests (not a test module)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.exceptions import StarletteDeprecationWarning

from service.config import ServiceSettings

with warnings.catch_warnings():
    # Starlette asks for httpx2 over httpx; either works for the TestClient (with httpx2 in the
    # dev extras this guard is a no-op).
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = [
    "JUNK",
    "LEARNERS",
    "LiveService",
    "TestClient",
    "copy_models",
    "flip_byte",
    "live_service",
    "service_env",
    "service_settings",
]

REPO = Path(__file__).resolve().parents[1]

#: Learners with known email_hash / company_hash values (the logs must never show them).
LEARNERS: list[dict[str, Any]] = [
    {
        "company_hash": "secretco alpha",
        "email_hash": "mail-7f3a9c1e0b2d4f6a8c0e2a4b6d8f0a1c3e5a7b9d1f3a5c7e9b1d3f5a7c9e1b3d",
        "orgyear": 2016,
        "ctc": 1_100_000,
        "job_position": "Backend Engineer",
        "ctc_updated_year": 2020,
    },
    {"company_hash": "secretco beta", "orgyear": 2012, "ctc": 3_500_000, "job_position": "SDE 2"},
    {"ctc": 450_000, "orgyear": 2020.0, "job_position": "Data Analyst", "ctc_updated_year": 2021},
    {"company_hash": "secretco gamma", "ctc": 800_000},
    {"ctc": 25_000_000, "orgyear": 1999, "job_position": "Engineering Manager"},
]
#: Absurd but numeric: a typo'd year, a tiny ctc, a company nobody trained on.
JUNK: dict[str, Any] = {
    "company_hash": "zz never seen before co",
    "email_hash": "mail-junk-0000",
    "orgyear": 20165,
    "ctc": 2,
    "job_position": "Not Available",
}


def service_settings(model_dir: Path, **overrides: Any) -> ServiceSettings:
    """Settings for a test app: everything explicit, so LEARNSEG_* variables cannot leak in."""
    values: dict[str, Any] = {
        "model_dir": model_dir,
        "model_version": None,
        "api_keys": (),
        "max_batch": 10_000,
        "max_body_bytes": None,
        "docs": True,
        "log_level": "info",
    }
    values.update(overrides)
    return ServiceSettings(**values)


def copy_models(source: Path, target: Path) -> Path:
    """A writable copy of a model folder (every version and LATEST)."""
    shutil.copytree(source, target)
    return target


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def service_env(**extra: str) -> dict[str, str]:
    """This process's environment without any LEARNSEG_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSEG_")}
    env.update(OMP_WAIT_POLICY="PASSIVE", PYTHONUNBUFFERED="1", **extra)
    return env


@dataclass(frozen=True)
class LiveService:
    """A ``python -m service`` process on 127.0.0.1 (its stdout and stderr go to `log`)."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_service(
    model_dir: Path,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    wait_for: str = "/health/ready",
    timeout: float = 60.0,
) -> Iterator[LiveService]:
    """Run ``python -m service`` on a free loopback port until `wait_for` answers 200.

    `env` holds LEARNSEG_* settings (the parent's are dropped). The process is stopped on exit
    (SIGTERM, then SIGKILL after 10 s); its output stays in `log`.
    """
    port = _free_port()
    command = [sys.executable, "-m", "service", "--model-dir", str(model_dir), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=service_env(**dict(env or {})),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    service = LiveService(f"http://127.0.0.1:{port}", port, process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"the service exited with {process.returncode}:\n{service.output()}"
                )
            try:
                if httpx.get(service.url + wait_for, timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                tail = "\n".join(service.output().splitlines()[-20:])
                raise AssertionError(
                    f"{wait_for} did not answer 200 within {timeout:.0f} s:\n{tail}"
                )
            time.sleep(0.1)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
