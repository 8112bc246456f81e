"""Helpers and constants shared by the tests (not a test module; the fixtures are in conftest.py).

- Where things are: the repository, and the shared reference data that sits beside it.
- Training: settings for a fast run, the files a training run writes, assignment re-implemented
  from ``segmenter.json`` alone, and a small model folder written by hand (the store's tests).
- The service: learners with known secrets, settings for a test app, writable copies of model
  folders, a flipped byte, and ``python -m service`` (or any command) on a free loopback port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler
from starlette.exceptions import StarletteDeprecationWarning

from service.config import ServiceSettings
from service.main import create_app
from training.config import TrainingSettings
from training.runtime.schema import RAW_FIELDS
from training.store.staging import finalize_manifest, staged_model, write_json

with warnings.catch_warnings():
    # Starlette asks for httpx2 over httpx; either works for the TestClient (with httpx2 in the
    # dev extras this guard is a no-op).
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = [
    "ADMIN_HEADERS",
    "ADMIN_KEY",
    "EXPECTED_FILES",
    "FIGURES",
    "JUNK",
    "LEARNERS",
    "MODEL_CREATED",
    "MODEL_FILES",
    "PNG_BYTES",
    "REAL_ROWS",
    "REFERENCE_PROFILE",
    "REPO",
    "SERVICE_READY",
    "SHARED_DATA",
    "LiveService",
    "TestClient",
    "admin_client",
    "copy_models",
    "fitted_scaler",
    "flip_byte",
    "free_port",
    "headless_chromium",
    "joblib_assign",
    "live_service",
    "numpy_assign",
    "raw_learners",
    "running_service",
    "service_env",
    "service_settings",
    "small_training_settings",
    "write_small_model",
]

# --- where things are -------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
#: The shared reference data beside the repository (tests that need it skip when it is absent).
SHARED_DATA = REPO.parent / "shared" / "data"
REAL_ROWS = SHARED_DATA / "real_rows.csv"
REFERENCE_PROFILE = SHARED_DATA / "reference_profile.json"

#: Lines the reliability tests report (requests sent, failures, cases per operation); printed
#: in a "reliability figures" section at the end of the run, and quoted in docs/reliability.md.
FIGURES = pytest.StashKey[list[str]]()


# --- training ---------------------------------------------------------------------------------
def small_training_settings(model_dir: Path, **overrides: object) -> TrainingSettings:
    """Settings for a fast training run on a small table (seconds, not tens of seconds)."""
    base: dict[str, object] = {
        "model_dir": model_dir,
        "k_max": 8,
        "silhouette_sample": 3_000,
        "stability_resamples": 2,
        "n_micro": 300,
        "synth_rows": 20_000,
        "synth_seed": 1,
    }
    base.update(overrides)
    return TrainingSettings(**base)  # type: ignore[arg-type]


#: The files of a trained model folder, besides manifest.json (either engine).
EXPECTED_FILES = {
    "segmenter.joblib",
    "segmenter.json",
    "probes.json",
    "profiles.json",
    "drift.json",
    "report.html",
    "plots/elbow.png",
    "plots/dendrogram.png",
    "plots/segment_map.png",
    "plots/profile_heatmap.png",
    "plots/ctc_experience.png",
}


def numpy_assign(doc: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """A from-scratch re-implementation of assignment from segmenter.json alone."""
    pre = doc["preprocessing"]
    z = (np.clip(x, pre["clip_lower"], pre["clip_upper"]) - pre["mean"]) / pre["scale"]
    centers = np.asarray(doc["kmeans"]["centers"])
    nearest = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    ids: np.ndarray = np.asarray(doc["kmeans"]["segment_ids"])[nearest]
    return ids


def joblib_assign(folder: Path, x: np.ndarray) -> np.ndarray:
    """The segment ids the fitted scikit-learn pipeline of segmenter.joblib gives `x`."""
    bundle = joblib.load(folder / "segmenter.joblib")
    ids: np.ndarray = np.asarray(bundle["segment_ids"])[bundle["pipeline"].predict(x)]
    return ids


# A small complete model folder, written the way the pipeline writes one.
MODEL_CREATED = datetime(2026, 11, 28, 17, 55, tzinfo=UTC)
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
#: Its files as the manifest lists them (sorted, posix, without the manifest).
MODEL_FILES = ("plots/x.png", "profiles.json", "segmenter.joblib", "segmenter.json")


def fitted_scaler() -> StandardScaler:
    """The fitted estimator of the small model folder."""
    return StandardScaler().fit(np.arange(12, dtype=np.float64).reshape(6, 2))


def write_small_model(model_dir: Path, version: str, *, finalize: bool = True) -> Path:
    """Write a small complete model the way the pipeline does; return its folder."""
    with staged_model(model_dir, version) as staging:
        write_json(staging / "segmenter.json", {"k": 3, "centroids": np.eye(3)})
        write_json(staging / "profiles.json", [{"segment": 0, "name": "Rising stars"}])
        joblib.dump(fitted_scaler(), staging / "segmenter.joblib")
        (staging / "plots").mkdir()
        (staging / "plots" / "x.png").write_bytes(PNG_BYTES)
        if finalize:
            finalize_manifest(
                staging, {"created_at": MODEL_CREATED, "metrics": {"silhouette": 0.41}}
            )
    return model_dir / version


# --- the service: learners, settings, model folders --------------------------------------------
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


def raw_learners(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a raw table as the API would receive them (NaN/NA as None)."""
    rows = frame[list(RAW_FIELDS)].astype(object).where(frame[list(RAW_FIELDS)].notna(), None)
    return [{key: row[key] for key in RAW_FIELDS} for row in rows.to_dict(orient="records")]


#: The admin key of test apps that reload (``admin_client``); admin keys may use every route.
ADMIN_KEY = "test-admin-key-7d1f0c9a2b"
ADMIN_HEADERS = {"X-API-Key": ADMIN_KEY}


def admin_client(settings: ServiceSettings) -> TestClient:
    """A test client of an app with :data:`ADMIN_KEY` configured, sent on every request."""
    settings = settings.model_copy(update={"admin_keys": (*settings.admin_keys, ADMIN_KEY)})
    return TestClient(create_app(settings), headers=ADMIN_HEADERS)


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
        "drift": True,
        "drift_window": 100_000,
        # Tests switch models explicitly; those of following LATEST turn it on.
        "follow_latest": False,
        "reload_signal": None,
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


# --- the service as a process -----------------------------------------------------------------
SERVICE_READY = (REPO / "service" / "__main__.py").exists() and (
    REPO / "service" / "main.py"
).exists()


def service_env(**extra: str) -> dict[str, str]:
    """This process's environment without any LEARNSEG_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSEG_")}
    env.update(OMP_WAIT_POLICY="PASSIVE", PYTHONUNBUFFERED="1", **extra)
    return env


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveService:
    """A ``python -m service`` process on 127.0.0.1 (its stdout and stderr go to `log`)."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


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
    port = free_port()
    command = [sys.executable, "-m", "service", "--model-dir", str(model_dir), "--port", str(port)]
    with _process(command, service_env(**dict(env or {})), log, REPO) as process:
        service = LiveService(f"http://127.0.0.1:{port}", port, process, log)
        _wait_for_200(process, service.url + wait_for, log, timeout)
        yield service


@contextmanager
def running_service(
    command: list[str],
    env: Mapping[str, str],
    port: int,
    log: Path,
    *,
    cwd: Path = REPO,
    timeout: float = 60.0,
    wait_for: str = "/health/ready",
) -> Iterator[str]:
    """Start `command`, wait until `wait_for` answers 200, yield its base URL, then stop it."""
    base = f"http://127.0.0.1:{port}"
    with _process(command, env, log, cwd) as process:
        _wait_for_200(process, f"{base}{wait_for}", log, timeout)
        yield base


@contextmanager
def _process(
    command: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` with its output in `log`; stopped on exit (SIGTERM, then SIGKILL after 10 s)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for_200(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    """Poll `url` until it answers 200; fail with the log's tail if the process ends first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the service exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


#: Debian's Chromium and its driver (``.ci/run`` installs both); browser tests skip without.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAS_CHROMIUM = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
NO_CHROMIUM = (
    "Debian's chromium and chromium-driver are not installed (apt-get install chromium "
    "chromium-driver; .ci/run does it)"
)


@contextmanager
def headless_chromium(*flags: str) -> Iterator[Any]:
    """A Selenium driver of headless Chromium with the network quiet (no background calls)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        *flags,
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
