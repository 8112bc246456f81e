"""Fault drills: break the models, the disk or the training run, and watch what happens.

1. A corrupted artifact (one flipped byte, in every file of a model, the manifest included) is
   not loaded: at start-up /health/ready is 503 with the reason; on reload the old model serves.
2. No models (folder missing or empty): a clear message saying how to train, no traceback, also
   from ``python -m service`` run as a process.
3. Artifacts written by another scikit-learn or numpy major.minor are refused, naming both
   versions, at start-up and on reload.
4. A training run killed with SIGKILL:
   tests/training/test_run.py::test_killed_run_leaves_latest_untouched kills
   ``python -m training train`` mid-way (cleaning or the sweep); here it is killed while it
   writes its artifacts.
   Either way LATEST names the last complete model, which still verifies and serves.
5. POST /admin/reload while clients keep sending: zero failed requests, every response names the
   version that placed it (and its segment names come from that version), and every request sent
   after a reload returned is answered by the new model.
6. The disk fills up while the artifacts are written (the writer patched to raise ENOSPC, and a
   real tmpfs of about 1 MB when this process may mount one): ``python -m training train`` exits 2
   with one sentence and no traceback, and LATEST is untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.main import create_app
from tests.helpers import (
    ADMIN_HEADERS,
    ADMIN_KEY,
    LEARNERS,
    REPO,
    TestClient,
    admin_client,
    copy_models,
    flip_byte,
    live_service,
    service_settings,
)
from training.runtime.artifacts import (
    LATEST_FILE,
    MANIFEST_FILE,
    list_versions,
    resolve_model,
    verify_model,
)
from training.store.staging import STAGING_PREFIX, finalize_manifest, seal_manifest

NO_MODEL = "No trained model in {}/: run `make train` (or `python -m training train`) first."
MODEL_ROUTES = [
    ("POST", "/segment", LEARNERS[0]),
    ("POST", "/segment/batch", {"learners": LEARNERS}),
    ("GET", "/segments", None),
    ("GET", "/model", None),
    ("GET", "/model/drift", None),
]
# A small, fast training run (~5 s) for the drills that run the training CLI.
TRAIN_ENV = {
    "LEARNSEG_SYNTH_ROWS": "5000",
    "LEARNSEG_SYNTH_SEED": "1",
    "LEARNSEG_K_MAX": "4",
    "LEARNSEG_SILHOUETTE_SAMPLE": "2000",
    "LEARNSEG_STABILITY_RESAMPLES": "2",
    "LEARNSEG_N_MICRO": "100",
}


@pytest.fixture
def model_dir(service_model_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the session's model folder (one version, LATEST names it)."""
    return copy_models(service_model_dir, tmp_path / "models")


def _latest(model_dir: Path) -> str:
    return (model_dir / LATEST_FILE).read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Corruption:
    """One flipped byte in one file of a model folder, and the reason the service must give."""

    rel: str
    digit: bool = False  # flip a digit (the JSON stays valid) instead of the middle byte

    def apply(self, folder: Path) -> None:
        if not self.digit:
            flip_byte(folder / self.rel)
            return
        path = folder / self.rel
        data = bytearray(path.read_bytes())
        digits = b"0123456789"
        # A digit after a digit or a point: flipped, the number stays a valid JSON number.
        i = next(
            i
            for i in range(len(data) // 2, len(data))
            if data[i] in digits and data[i - 1] in digits + b"."
        )
        data[i] ^= 0x01  # '0' <-> '1', '2' <-> '3', ...: still a digit
        path.write_bytes(bytes(data))

    @property
    def reason(self) -> str:
        """A regular expression the reason matches."""
        if self.rel != MANIFEST_FILE:
            return re.escape(
                f"{self.rel} does not match its SHA-256 in the manifest: the artifact is "
                "corrupted or was modified."
            )
        if self.digit:
            return (
                r"manifest\.json of .+ does not match its own checksum: the artifact is corrupted"
            )
        # The middle byte may break the JSON, or change a value the checksum covers.
        return r"manifest\.json (is not valid JSON|of .+ does not match its own checksum)"


def _corruptions(folder: Path) -> list[Corruption]:
    """A flipped byte in every file of a model folder, and a flipped digit in its manifest."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    files = [Corruption(rel) for rel in sorted(manifest["files"])]
    return [*files, Corruption(MANIFEST_FILE), Corruption(MANIFEST_FILE, digit=True)]


def _assert_not_ready(client: TestClient, reason: str, *, regex: bool = False) -> None:
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    detail = ready.json()["detail"]
    found = re.search(reason, detail) if regex else reason in detail
    assert ready.status_code == 503 and found, ready.text
    for method, path, body in MODEL_ROUTES:
        response = client.request(method, path, json=body)
        assert response.status_code == 503 and response.json() == ready.json(), path


def _assert_serves(client: TestClient, version: str) -> None:
    assert client.get("/health/ready").json() == {"status": "ready", "model_version": version}
    placed = client.post("/segment", json=LEARNERS[0])
    assert placed.status_code == 200 and placed.json()["model_version"] == version


def _add_version(model_dir: Path, source: str, name: str) -> Path:
    """A copy of version `source` published as version `name` (re-sealed; LATEST untouched)."""
    folder = model_dir / name
    shutil.copytree(model_dir / source, folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    finalize_manifest(folder, {**manifest, "version": name})
    return folder


def _write_versions(folder: Path, dist: str, version: str) -> None:
    """Rewrite the manifest as a model written with `dist` `version` would have it."""
    path = folder / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["versions"][dist] = version
    path.write_text(json.dumps(seal_manifest(manifest), indent=2), encoding="utf-8")


# ------------------------------------------------------------------------ 1. corrupted artifacts
def test_a_flipped_byte_in_any_artifact_is_refused_at_start_up(
    service_model_dir: Path, tmp_path: Path
) -> None:
    version = _latest(service_model_dir)
    corruptions = _corruptions(service_model_dir / version)
    corrupted = {c.rel for c in corruptions}
    assert {"segmenter.json", "profiles.json", "segmenter.joblib", MANIFEST_FILE} <= corrupted
    for i, corruption in enumerate(corruptions):
        model_dir = copy_models(service_model_dir, tmp_path / f"models-{i}")
        corruption.apply(model_dir / version)
        with TestClient(create_app(service_settings(model_dir))) as client:
            _assert_not_ready(client, corruption.reason, regex=True)


def test_a_flipped_byte_on_reload_keeps_the_old_model_serving(model_dir: Path) -> None:
    good = _latest(model_dir)
    corruptions = _corruptions(model_dir / good)
    with admin_client(service_settings(model_dir)) as client:
        for i, corruption in enumerate(corruptions):
            bad = f"{good}-bad{i}"
            corruption.apply(_add_version(model_dir, good, bad))
            response = client.post("/admin/reload", json={"version": bad})
            assert response.status_code == 409, corruption
            detail = response.json()["detail"]
            assert detail.startswith(f"Reload failed and model {good} keeps serving: "), detail
            assert re.search(corruption.reason, detail), detail
            _assert_serves(client, good)
        # A corrupted model published as LATEST: the plain reload refuses it too.
        (model_dir / LATEST_FILE).write_text(f"{good}-bad0\n", encoding="utf-8")
        assert client.post("/admin/reload").status_code == 409
        _assert_serves(client, good)
        metrics = client.get("/metrics").text
    assert f'learnseg_reloads_total{{outcome="failed"}} {len(corruptions) + 1}.0' in metrics


# ---------------------------------------------------------------------------- 2. no models
@pytest.mark.parametrize("layout", ["missing", "empty", "only a staging folder"])
def test_no_models_says_how_to_train(tmp_path: Path, layout: str) -> None:
    model_dir = tmp_path / "models"
    if layout != "missing":
        model_dir.mkdir()
    if layout == "only a staging folder":  # a first training run that was killed
        (model_dir / f"{STAGING_PREFIX}20261128-000000-4242").mkdir()
    with admin_client(service_settings(model_dir)) as client:
        _assert_not_ready(client, NO_MODEL.format(model_dir.name))
        failed = client.post("/admin/reload")
    assert failed.status_code == 409
    assert failed.json()["detail"] == (
        f"Reload failed and no model is being served: {NO_MODEL.format(model_dir.name)}"
    )


@dataclass(frozen=True)
class Layout:
    name: str
    reason: str


LAYOUTS = [
    Layout("missing", "No trained model in"),
    Layout("empty", "No trained model in"),
    Layout("corrupted", "segmenter.json does not match its SHA-256"),
    Layout("other scikit-learn", "This model was written with scikit-learn 0.99 but"),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=[layout.name for layout in LAYOUTS])
def test_python_m_service_without_a_usable_model_starts_and_says_why(
    service_model_dir: Path, tmp_path: Path, layout: Layout
) -> None:
    """The process starts (liveness 200), readiness says why, and nothing prints a traceback."""
    model_dir = tmp_path / "models"
    if layout.name == "empty":
        model_dir.mkdir()
    elif layout.name != "missing":
        copy_models(service_model_dir, model_dir)
        folder = model_dir / _latest(model_dir)
        if layout.name == "corrupted":
            flip_byte(folder / "segmenter.json")
        else:
            _write_versions(folder, "scikit-learn", "0.99.0")
    with live_service(model_dir, tmp_path / "service.log", wait_for="/health/live") as service:
        ready = httpx.get(service.url + "/health/ready", timeout=10)
        segment = httpx.post(service.url + "/segment", json=LEARNERS[0], timeout=10)
    assert ready.status_code == 503 and layout.reason in ready.json()["detail"], ready.text
    if layout.name in ("missing", "empty"):
        assert ready.json()["detail"] == NO_MODEL.format(model_dir.name)
    assert segment.status_code == 503 and segment.json() == ready.json()
    output = service.output()
    assert "Traceback" not in output
    records = [json.loads(line) for line in output.splitlines()]  # JSON lines only
    warnings = [r["msg"] for r in records if r["level"] == "warning"]
    assert any(w.startswith("No model is being served: ") and layout.reason in w for w in warnings)
    assert not [r for r in records if r["level"] in ("error", "critical")]


# -------------------------------------------------------------- 3. other library versions
def _running(dist: str) -> str:
    return ".".join(metadata.version(dist).split(".")[:2])


@pytest.mark.parametrize(("dist", "written"), [("scikit-learn", "1.3.2"), ("numpy", "1.25.2")])
def test_other_library_major_minor_is_refused_naming_both(
    model_dir: Path, dist: str, written: str
) -> None:
    good = _latest(model_dir)
    old = written.rsplit(".", 1)[0]
    expected = (
        f"This model was written with {dist} {old} but {_running(dist)} is running; retrain it "
        f"or install {dist} {old}."
    )
    other = f"{good}-{dist}"
    _write_versions(_add_version(model_dir, good, other), dist, written)

    with admin_client(service_settings(model_dir)) as client:  # serving `good`
        response = client.post("/admin/reload", json={"version": other})
        assert response.status_code == 409
        assert response.json()["detail"] == (
            f"Reload failed and model {good} keeps serving: {expected}"
        )
        _assert_serves(client, good)

    settings = service_settings(model_dir, model_version=other)
    with TestClient(create_app(settings)) as client:  # starting with it
        _assert_not_ready(client, expected)
        assert client.get("/health/ready").json()["detail"] == expected


# ---------------------------------------------------------------- 4. training killed (SIGKILL)
def _train_command(model_dir: Path) -> list[str]:
    return [sys.executable, "-m", "training", "train", "--out", str(model_dir)]


def _train_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSEG_")}
    return {**env, **TRAIN_ENV, "LEARNSEG_CACHE_DIR": str(tmp_path / "cache")}


def test_training_killed_while_writing_artifacts_leaves_latest_serving(
    model_dir: Path, tmp_path: Path, figures: list[str]
) -> None:
    before = _latest(model_dir)
    process = subprocess.Popen(
        _train_command(model_dir),
        cwd=REPO,
        env=_train_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        staging: list[Path] = []
        while not staging:  # the run is writing once its staging folder exists
            assert process.poll() is None, "training ended before it wrote anything"
            assert time.monotonic() < deadline, "training never started writing"
            staging = [p for p in model_dir.iterdir() if p.name.startswith(STAGING_PREFIX)]
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert _latest(model_dir) == before
    assert list_versions(model_dir) == [before]
    verify_model(resolve_model(model_dir))
    with TestClient(create_app(service_settings(model_dir))) as client:
        _assert_serves(client, before)
    figures.append(
        f"training SIGKILLed while writing ({staging[0].name} left behind): LATEST still "
        f"{before}, verifies and serves"
    )


# --------------------------------------------------------------------- 5. reload under load
THREADS = 4
RELOADS = 6
PAUSE_SECONDS = 0.4  # between reloads: time for many requests to land on each model
MAX_REQUESTS_PER_THREAD = 2_000
LOAD_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True)
class Answer:
    sent: float
    done: float
    versions: frozenset[str]
    error: str = ""


def _names(folder: Path) -> dict[int, str]:
    profiles = json.loads((folder / "profiles.json").read_text(encoding="utf-8"))
    return {int(p["id"]): str(p["name"]) for p in profiles["segments"]}


def _make_version_b(model_dir: Path, a: str) -> str:
    """Version B: A's model with every segment renamed, so an answer shows which one placed it."""
    b = f"{a}-b"
    folder = model_dir / b
    shutil.copytree(model_dir / a, folder)
    profiles_path = folder / "profiles.json"
    profiles = json.loads(profiles_path.read_text(encoding="utf-8"))
    for profile in profiles["segments"]:
        profile["name"] = f"[B] {profile['name']}"
    profiles_path.write_text(json.dumps(profiles, indent=2), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    finalize_manifest(folder, {**manifest, "version": b})
    return b


CLIENT_KEY = "drill-client-key-5c2e"


def test_reload_under_load_fails_no_request(
    model_dir: Path, tmp_path: Path, figures: list[str]
) -> None:
    a = _latest(model_dir)
    b = _make_version_b(model_dir, a)
    names = {a: _names(model_dir / a), b: _names(model_dir / b)}
    assert names[a] != names[b]
    stop = threading.Event()
    deadline = time.monotonic() + LOAD_DEADLINE_SECONDS
    answers: list[list[Answer]] = [[] for _ in range(THREADS)]

    def check(result: dict[str, Any]) -> str:
        version = str(result["model_version"])
        assert result["segment_name"] == names[version][result["segment_id"]], result
        return version

    def client_loop(url: str, out: list[Answer]) -> None:
        with httpx.Client(base_url=url, timeout=30.0, headers={"X-API-Key": CLIENT_KEY}) as client:
            for i in range(MAX_REQUESTS_PER_THREAD):
                if stop.is_set() or time.monotonic() > deadline:
                    return
                sent = time.monotonic()
                try:
                    if i % 5 == 4:
                        response = client.post("/segment/batch", json={"learners": LEARNERS})
                        response.raise_for_status()
                        versions = frozenset(check(r) for r in response.json()["results"])
                    else:
                        response = client.post("/segment", json=LEARNERS[i % len(LEARNERS)])
                        response.raise_for_status()
                        versions = frozenset([check(response.json())])
                    out.append(Answer(sent, time.monotonic(), versions))
                except Exception as exc:  # every failure is counted, none may happen
                    out.append(Answer(sent, time.monotonic(), frozenset(), repr(exc)))

    reloads: list[tuple[float, float, str]] = []
    keys = {"LEARNSEG_API_KEYS": CLIENT_KEY, "LEARNSEG_ADMIN_KEYS": ADMIN_KEY}
    with live_service(model_dir, tmp_path / "service.log", env=keys) as service:
        threads = [
            threading.Thread(target=client_loop, args=(service.url, answers[t]), daemon=True)
            for t in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        try:
            with httpx.Client(base_url=service.url, timeout=60.0, headers=ADMIN_HEADERS) as admin:
                time.sleep(PAUSE_SECONDS)
                for r in range(RELOADS):
                    target = b if r % 2 == 0 else a
                    started = time.monotonic()
                    response = admin.post("/admin/reload", json={"version": target})
                    reloads.append((started, time.monotonic(), target))
                    assert response.status_code == 200, response.text
                    assert response.json()["version"] == target
                    time.sleep(PAUSE_SECONDS)
                metrics = admin.get("/metrics").text
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        output = service.output()

    assert not any(thread.is_alive() for thread in threads)
    done = [answer for thread_answers in answers for answer in thread_answers]
    failed = [answer.error for answer in done if answer.error]
    assert not failed, failed[:5]
    assert all(len(answer.versions) == 1 for answer in done)  # a batch is placed by one model
    # Before the first reload: A. After reload i returned and before reload i+1 began: its target.
    windows = [(0.0, reloads[0][0], a)]
    windows += [
        (end, reloads[i + 1][0] if i + 1 < RELOADS else float("inf"), target)
        for i, (_, end, target) in enumerate(reloads)
    ]
    checked = Counter[str]()
    for start, end, version in windows:
        inside = [x for x in done if x.sent > start and x.done < end]
        assert inside, f"no request landed between {start} and {end}"
        wrong = [x for x in inside if x.versions != {version}]
        assert not wrong, (version, wrong[:3])
        checked[version] += len(inside)
    assert 'learnseg_reloads_total{outcome="succeeded"} 6.0' in metrics
    assert "Traceback" not in output
    figures.append(
        f"reload under load: {len(done)} requests from {THREADS} threads during {RELOADS} reloads "
        f"A<->B, {len(failed)} failed, every answer named its model; "
        f"{sum(checked.values())} answered entirely inside one model's window, all by that model"
    )


# ---------------------------------------------------------------------------- 6. disk full
# The training CLI with the artifact writer patched: the disk is "full" from the first JSON file.
_DISK_FULL = """
import errno, os, sys
import training.store.publish as publish

def disk_full(path, obj):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

publish.write_json = disk_full
sys.argv = ["python -m training", *sys.argv[1:]]
from training.__main__ import main
main()
"""


def _assert_one_sentence_exit_2(result: subprocess.CompletedProcess[str], model_dir: Path) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    target = re.escape(f"{model_dir}/")
    pattern = rf"error: Could not write the model to {target}[\w.-]+: No space left on device\."
    assert re.fullmatch(pattern, errors[0]), errors[0]
    assert "Trained model" not in result.stdout
    return errors[0]


def _assert_untouched(model_dir: Path, before: str) -> None:
    assert _latest(model_dir) == before
    assert list_versions(model_dir) == [before]
    assert not [p for p in model_dir.iterdir() if p.name.startswith(STAGING_PREFIX)]
    verify_model(resolve_model(model_dir))


def test_disk_full_while_writing_is_one_sentence_and_latest_is_untouched(
    model_dir: Path, tmp_path: Path, figures: list[str]
) -> None:
    before = _latest(model_dir)
    result = subprocess.run(
        [sys.executable, "-c", _DISK_FULL, "train", "--out", str(model_dir)],
        cwd=REPO,
        env=_train_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    line = _assert_one_sentence_exit_2(result, model_dir)
    _assert_untouched(model_dir, before)
    figures.append(f"disk full (writer patched): exit 2, {line!r}, LATEST untouched")


@contextmanager
def _tiny_tmpfs(mount_point: Path, size_kib: int) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the patched ENOSPC drill covers this case")
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the patched drill runs")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _size_kib(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) // 1024


def test_a_really_full_disk_while_writing(
    service_model_dir: Path, tmp_path: Path, figures: list[str]
) -> None:
    """A tmpfs with room for the current model and 256 KiB more: the next one cannot fit."""
    size = _size_kib(service_model_dir) + 256
    with _tiny_tmpfs(tmp_path / "disk", size) as disk:
        model_dir = copy_models(service_model_dir, disk / "models")
        before = _latest(model_dir)
        result = subprocess.run(
            _train_command(model_dir),
            cwd=REPO,
            env=_train_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=180,
        )
        line = _assert_one_sentence_exit_2(result, model_dir)
        _assert_untouched(model_dir, before)
        with TestClient(create_app(service_settings(model_dir))) as client:
            _assert_serves(client, before)
    figures.append(f"disk full (real {size} KiB tmpfs): exit 2, {line!r}, LATEST untouched")
