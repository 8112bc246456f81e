"""The write side of the model store (training.store.staging): version names, deterministic JSON, a
staged folder moved into place with its manifest, LATEST moved last, and what a full disk, an
exception or a killed writer leave behind. Reading and verifying: tests/training/runtime/
test_artifacts.py."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

import training.store.staging as staging
from tests.helpers import MODEL_CREATED, MODEL_FILES, REPO, fitted_scaler, write_small_model
from training.runtime import artifacts
from training.runtime.artifacts import LATEST_FILE, MANIFEST_FILE, ArtifactError
from training.store.staging import (
    STAGING_PREFIX,
    finalize_manifest,
    new_version,
    staged_model,
    write_json,
)


def _latest(model_dir: Path) -> str:
    return (model_dir / LATEST_FILE).read_text(encoding="utf-8").strip()


def _staging_folders(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir() if p.name.startswith(STAGING_PREFIX))


# --------------------------------------------------------------------------------------------
# small pieces
# --------------------------------------------------------------------------------------------


def test_new_version_is_utc_and_unique_within_the_folder(model_dir: Path) -> None:
    plus_two = datetime(2026, 11, 28, 19, 55, tzinfo=timezone(timedelta(hours=2)))
    assert new_version(plus_two) == "20261128-175500"
    assert new_version(MODEL_CREATED, model_dir) == "20261128-175500"  # folder not there yet
    (model_dir / "20261128-175500").mkdir(parents=True)
    (model_dir / f"{STAGING_PREFIX}20261128-175500-2-999").mkdir()  # a run writing -2 now
    assert new_version(MODEL_CREATED, model_dir) == "20261128-175500-3"
    with pytest.raises(ValueError, match="timezone-aware"):
        new_version(datetime(2026, 11, 28, 17, 55))


def test_write_json_is_deterministic_utf8_with_trailing_newline(tmp_path: Path) -> None:
    obj = {"b": 1, "a": [1.5, None, True], "name": "Ünïcode", "n": np.int64(3), "x": np.eye(2)}
    write_json(tmp_path / "one.json", obj)
    write_json(tmp_path / "two.json", dict(obj))
    one = (tmp_path / "one.json").read_bytes()
    assert one == (tmp_path / "two.json").read_bytes()
    assert one.endswith(b"}\n") and not one.endswith(b"\n\n")
    assert "Ünïcode".encode() in one
    assert list(json.loads(one)) == ["b", "a", "name", "n", "x"]  # the caller's key order
    assert json.loads(one)["x"] == [[1.0, 0.0], [0.0, 1.0]]
    assert one.startswith(b'{\n  "b": 1,')


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float64("-inf")])
def test_write_json_refuses_non_finite_numbers_naming_the_key(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "m.json"
    with pytest.raises(ArtifactError, match=r"m\.json: the value at metrics\.scores\[1\] is"):
        write_json(path, {"metrics": {"scores": [0.1, bad]}})
    assert not path.exists()


def test_write_json_refuses_unknown_types(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="the value at model is a StandardScaler"):
        write_json(tmp_path / "m.json", {"model": StandardScaler()})


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def test_written_model_is_complete_latest_and_verifies(model_dir: Path, model: Path) -> None:
    assert model.is_dir()
    assert _latest(model_dir) == "20261128-175500"
    assert (model_dir / LATEST_FILE).read_text(encoding="utf-8") == "20261128-175500\n"
    assert _staging_folders(model_dir) == []
    assert artifacts.list_versions(model_dir) == ["20261128-175500"]
    assert artifacts.resolve_model(model_dir) == model

    manifest = artifacts.verify_model(model)
    assert list(manifest) == [
        "version",
        "created_at",
        "metrics",
        "versions",
        "files",
        "manifest_sha256",
    ]
    assert manifest["version"] == "20261128-175500"
    assert manifest["created_at"] == "2026-11-28T17:55:00+00:00"
    assert manifest["versions"] == artifacts.library_versions()
    assert list(manifest["files"]) == list(MODEL_FILES)  # sorted, posix, without the manifest
    for rel, digest in manifest["files"].items():
        assert digest == artifacts.sha256_file(model / rel)

    scaler = joblib.load(
        io.BytesIO(artifacts.read_verified(model, "segmenter.joblib", manifest, model_dir))
    )
    np.testing.assert_allclose(scaler.mean_, fitted_scaler().mean_)


def test_manifest_lists_files_written_after_finalize(model_dir: Path) -> None:
    """The manifest is rewritten last, so a file written after finalize_manifest is listed."""
    with staged_model(model_dir, "v1", fields={"metrics": {"k": 4}}) as staging:
        finalize_manifest(staging, {"created_at": MODEL_CREATED})
        (staging / "report.html").write_text("<html></html>\n", encoding="utf-8")
    manifest = artifacts.verify_model(model_dir / "v1")
    assert "report.html" in manifest["files"]
    assert manifest["created_at"] == "2026-11-28T17:55:00+00:00"
    assert manifest["metrics"] == {"k": 4}


def test_manifest_is_written_even_without_finalize(model_dir: Path) -> None:
    folder = write_small_model(model_dir, "v1", finalize=False)
    manifest = artifacts.verify_model(folder)
    assert list(manifest["files"]) == list(MODEL_FILES)
    assert manifest["version"] == "v1"


def test_second_write_moves_latest(model_dir: Path, model: Path) -> None:
    second = write_small_model(model_dir, "20261128-175500-2")
    assert _latest(model_dir) == "20261128-175500-2"
    assert artifacts.resolve_model(model_dir) == second
    assert artifacts.resolve_model(model_dir, "20261128-175500") == model
    artifacts.verify_model(model)
    artifacts.verify_model(second)


def test_an_existing_version_is_never_overwritten(model_dir: Path, model: Path) -> None:
    before = artifacts.sha256_file(model / "segmenter.json")
    with pytest.raises(ArtifactError, match="already exists: a model version is never overwritten"):
        write_small_model(model_dir, "20261128-175500")
    assert artifacts.sha256_file(model / "segmenter.json") == before
    assert _staging_folders(model_dir) == []


@pytest.mark.parametrize("version", ["../x", "/abs", ".hidden", "a/b", "", ".."])
def test_staged_model_refuses_a_version_that_is_not_a_plain_name(
    model_dir: Path, version: str
) -> None:
    with (
        pytest.raises(ArtifactError, match="is not a plain folder name: path traversal is refused"),
        staged_model(model_dir, version),
    ):
        pass


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_exception_inside_leaves_no_staging_and_latest_unchanged(
    model_dir: Path, model: Path, exc_type: type[BaseException]
) -> None:
    with pytest.raises(exc_type, match="boom"), staged_model(model_dir, "v2") as staging:
        write_json(staging / "segmenter.json", {"k": 3})
        raise exc_type("boom")
    assert _staging_folders(model_dir) == []
    assert not (model_dir / "v2").exists()
    assert _latest(model_dir) == model.name
    assert artifacts.list_versions(model_dir) == [model.name]


def test_disk_full_while_writing_becomes_a_clear_error(
    model_dir: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_json = staging.write_json
    calls = 0

    def fill_up(path: Path, obj: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first file is written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write_json(path, obj)

    monkeypatch.setattr(staging, "write_json", fill_up)
    with pytest.raises(ArtifactError) as info:
        write_small_model(model_dir, "v2")
    assert str(info.value) == (
        f"Could not write the model to {model_dir / 'v2'}: No space left on device."
    )
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert _staging_folders(model_dir) == []
    assert not (model_dir / "v2").exists()
    assert _latest(model_dir) == model.name
    artifacts.verify_model(model)


def test_disk_full_when_writing_the_manifest(
    model_dir: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_json = staging.write_json

    def fill_up(path: Path, obj: Any) -> None:
        if path.name == MANIFEST_FILE:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write_json(path, obj)

    monkeypatch.setattr(staging, "write_json", fill_up)
    with pytest.raises(ArtifactError, match="No space left on device"):
        write_small_model(model_dir, "v2", finalize=False)
    assert _staging_folders(model_dir) == []
    assert not (model_dir / "v2").exists()
    assert _latest(model_dir) == model.name


def test_disk_full_when_replacing_latest_rolls_back_the_new_folder(
    model_dir: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fill_up(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", fill_up)
    with pytest.raises(ArtifactError, match=r"v2: No space left on device\.$"):
        write_small_model(model_dir, "v2")
    monkeypatch.undo()
    assert _latest(model_dir) == model.name
    assert not (model_dir / "v2").exists()
    assert sorted(p.name for p in model_dir.iterdir()) == sorted([LATEST_FILE, model.name])


# --------------------------------------------------------------------------------------------
# a writer killed mid-way
# --------------------------------------------------------------------------------------------


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from training.store.staging import staged_model, write_json

    model_dir, ready = Path(sys.argv[1]), Path(sys.argv[2])
    with staged_model(model_dir, "20990101-000000") as staging:
        write_json(staging / "segmenter.json", {"k": 3})
        ready.write_text(str(staging), encoding="utf-8")
        time.sleep(60)
    """
)


@pytest.fixture
def killed_writer(model_dir: Path, model: Path, tmp_path: Path) -> Iterator[Path]:
    """Run a writer in a subprocess and SIGKILL it while it sleeps; yield its staging folder."""
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(model_dir), str(ready)], cwd=REPO, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, "the writer exited before it was killed"
            assert time.monotonic() < deadline, "the writer never got ready"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        yield Path(ready.read_text(encoding="utf-8"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_writer_killed_midway_leaves_the_previous_model_intact(
    model_dir: Path, model: Path, killed_writer: Path
) -> None:
    assert killed_writer.is_dir()  # SIGKILL leaves no chance to clean up...
    assert killed_writer.name.startswith(STAGING_PREFIX)
    # ... but readers never see it: LATEST and the complete versions are unchanged.
    assert _latest(model_dir) == model.name
    assert artifacts.list_versions(model_dir) == [model.name]
    assert not (model_dir / "20990101-000000").exists()
    assert artifacts.resolve_model(model_dir) == model
    artifacts.verify_model(model)

    # The next run removes the stale staging folder (its pid is dead).
    write_small_model(model_dir, "20261129-000000")
    assert not killed_writer.exists()
    assert _staging_folders(model_dir) == []
    assert _latest(model_dir) == "20261129-000000"


def test_staging_of_a_live_writer_is_kept_unless_it_is_old(model_dir: Path, model: Path) -> None:
    alive = os.getppid()  # a live process that is not us
    fresh = model_dir / f"{STAGING_PREFIX}v7-{alive}"
    old = model_dir / f"{STAGING_PREFIX}v8-{alive}"
    for folder in (fresh, old):
        folder.mkdir()
        (folder / "segmenter.json").write_text("{}\n", encoding="utf-8")
    two_hours_ago = time.time() - 7200
    for path in (old / "segmenter.json", old):
        os.utime(path, (two_hours_ago, two_hours_ago))
    write_small_model(model_dir, "v2")
    assert fresh.is_dir()
    assert not old.exists()
