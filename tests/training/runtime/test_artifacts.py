"""Versioned artifacts: atomic writes, the manifest, verification, safe loading."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

import training.publish as publish
from training.publish import (
    STAGING_PREFIX,
    finalize_manifest,
    new_version,
    seal_manifest,
    staged_model,
    write_json,
)
from training.runtime.artifacts import (
    LATEST_FILE,
    MANIFEST_FILE,
    ArtifactError,
    library_versions,
    list_versions,
    read_verified,
    resolve_model,
    sha256_file,
    verify_model,
)

REPO = Path(__file__).resolve().parents[3]
CREATED = datetime(2026, 11, 28, 17, 55, tzinfo=UTC)
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
FILES = ("plots/x.png", "profiles.json", "segmenter.joblib", "segmenter.json")


def _scaler() -> StandardScaler:
    return StandardScaler().fit(np.arange(12, dtype=np.float64).reshape(6, 2))


def _write_model(model_dir: Path, version: str, *, finalize: bool = True) -> Path:
    """Write a small complete model the way the pipeline does; return its folder."""
    with staged_model(model_dir, version) as staging:
        write_json(staging / "segmenter.json", {"k": 3, "centroids": np.eye(3)})
        write_json(staging / "profiles.json", [{"segment": 0, "name": "Rising stars"}])
        joblib.dump(_scaler(), staging / "segmenter.joblib")
        (staging / "plots").mkdir()
        (staging / "plots" / "x.png").write_bytes(PNG_BYTES)
        if finalize:
            finalize_manifest(staging, {"created_at": CREATED, "metrics": {"silhouette": 0.41}})
    return model_dir / version


def _latest(model_dir: Path) -> str:
    return (model_dir / LATEST_FILE).read_text(encoding="utf-8").strip()


def _staging_folders(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir() if p.name.startswith(STAGING_PREFIX))


def _edit_manifest(folder: Path, **changes: Any) -> None:
    """Change manifest fields and re-seal it, as if it had been written that way."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest.update(changes)
    write_json(folder / MANIFEST_FILE, seal_manifest(manifest))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def model(model_dir: Path) -> Path:
    return _write_model(model_dir, "20261128-175500")


# --------------------------------------------------------------------------------------------
# small pieces
# --------------------------------------------------------------------------------------------


def test_new_version_is_utc_and_unique_within_the_folder(model_dir: Path) -> None:
    plus_two = datetime(2026, 11, 28, 19, 55, tzinfo=timezone(timedelta(hours=2)))
    assert new_version(plus_two) == "20261128-175500"
    assert new_version(CREATED, model_dir) == "20261128-175500"  # folder not there yet
    (model_dir / "20261128-175500").mkdir(parents=True)
    (model_dir / f"{STAGING_PREFIX}20261128-175500-2-999").mkdir()  # a run writing -2 now
    assert new_version(CREATED, model_dir) == "20261128-175500-3"
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


def test_sha256_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(tmp_path / "f") == expected


def test_library_versions() -> None:
    import sklearn

    versions = library_versions()
    assert list(versions) == ["python", "numpy", "scipy", "scikit-learn", "pandas", "joblib"]
    assert versions["numpy"] == np.__version__
    assert versions["scikit-learn"] == sklearn.__version__


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def test_written_model_is_complete_latest_and_verifies(model_dir: Path, model: Path) -> None:
    assert model.is_dir()
    assert _latest(model_dir) == "20261128-175500"
    assert (model_dir / LATEST_FILE).read_text(encoding="utf-8") == "20261128-175500\n"
    assert _staging_folders(model_dir) == []
    assert list_versions(model_dir) == ["20261128-175500"]
    assert resolve_model(model_dir) == model

    manifest = verify_model(model)
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
    assert manifest["versions"] == library_versions()
    assert list(manifest["files"]) == list(FILES)  # sorted, posix, without the manifest
    for rel, digest in manifest["files"].items():
        assert digest == sha256_file(model / rel)

    scaler = joblib.load(io.BytesIO(read_verified(model, "segmenter.joblib", manifest, model_dir)))
    np.testing.assert_allclose(scaler.mean_, _scaler().mean_)


def test_manifest_lists_files_written_after_finalize(model_dir: Path) -> None:
    """The manifest is rewritten last, so a file written after finalize_manifest is listed."""
    with staged_model(model_dir, "v1", fields={"metrics": {"k": 4}}) as staging:
        finalize_manifest(staging, {"created_at": CREATED})
        (staging / "report.html").write_text("<html></html>\n", encoding="utf-8")
    manifest = verify_model(model_dir / "v1")
    assert "report.html" in manifest["files"]
    assert manifest["created_at"] == "2026-11-28T17:55:00+00:00"
    assert manifest["metrics"] == {"k": 4}


def test_manifest_is_written_even_without_finalize(model_dir: Path) -> None:
    folder = _write_model(model_dir, "v1", finalize=False)
    manifest = verify_model(folder)
    assert list(manifest["files"]) == list(FILES)
    assert manifest["version"] == "v1"


def test_second_write_moves_latest(model_dir: Path, model: Path) -> None:
    second = _write_model(model_dir, "20261128-175500-2")
    assert _latest(model_dir) == "20261128-175500-2"
    assert resolve_model(model_dir) == second
    assert resolve_model(model_dir, "20261128-175500") == model
    verify_model(model)
    verify_model(second)


def test_list_versions_sorts_numeric_suffixes(model_dir: Path) -> None:
    for name in ["20261128-175500-10", "20261128-175500-9", "20261128-175500", "20250101-000000"]:
        (model_dir / name).mkdir(parents=True)
        write_json(model_dir / name / MANIFEST_FILE, {"files": {}})
    (model_dir / "20261201-000000").mkdir()  # no manifest: not a complete model
    (model_dir / f"{STAGING_PREFIX}20261202-000000-1").mkdir()
    assert list_versions(model_dir) == [
        "20250101-000000",
        "20261128-175500",
        "20261128-175500-9",
        "20261128-175500-10",
    ]
    assert list_versions(model_dir / "missing") == []


def test_an_existing_version_is_never_overwritten(model_dir: Path, model: Path) -> None:
    before = sha256_file(model / "segmenter.json")
    with pytest.raises(ArtifactError, match="already exists: a model version is never overwritten"):
        _write_model(model_dir, "20261128-175500")
    assert sha256_file(model / "segmenter.json") == before
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
    assert list_versions(model_dir) == [model.name]


def test_disk_full_while_writing_becomes_a_clear_error(
    model_dir: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_json = publish.write_json
    calls = 0

    def fill_up(path: Path, obj: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first file is written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write_json(path, obj)

    monkeypatch.setattr(publish, "write_json", fill_up)
    with pytest.raises(ArtifactError) as info:
        _write_model(model_dir, "v2")
    assert str(info.value) == (
        f"Could not write the model to {model_dir / 'v2'}: No space left on device."
    )
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert _staging_folders(model_dir) == []
    assert not (model_dir / "v2").exists()
    assert _latest(model_dir) == model.name
    verify_model(model)


def test_disk_full_when_writing_the_manifest(
    model_dir: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_json = publish.write_json

    def fill_up(path: Path, obj: Any) -> None:
        if path.name == MANIFEST_FILE:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write_json(path, obj)

    monkeypatch.setattr(publish, "write_json", fill_up)
    with pytest.raises(ArtifactError, match="No space left on device"):
        _write_model(model_dir, "v2", finalize=False)
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
        _write_model(model_dir, "v2")
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
    from training.publish import staged_model, write_json

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
    assert list_versions(model_dir) == [model.name]
    assert not (model_dir / "20990101-000000").exists()
    assert resolve_model(model_dir) == model
    verify_model(model)

    # The next run removes the stale staging folder (its pid is dead).
    _write_model(model_dir, "20261129-000000")
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
    _write_model(model_dir, "v2")
    assert fresh.is_dir()
    assert not old.exists()


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", FILES)
def test_a_flipped_byte_is_caught_naming_the_file(model: Path, rel: str) -> None:
    path = model / rel
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as info:
        verify_model(model)
    assert str(info.value) == (
        f"{rel} does not match its SHA-256 in the manifest: the artifact is corrupted or was "
        "modified."
    )


def test_a_missing_file_is_caught(model: Path) -> None:
    (model / "plots" / "x.png").unlink()
    with pytest.raises(ArtifactError) as info:
        verify_model(model)
    assert str(info.value) == (
        f"plots/x.png is listed in the manifest but missing from {model}: the artifact is "
        "incomplete."
    )


def test_an_unlisted_file_is_caught(model: Path) -> None:
    (model / "plots" / "extra.png").write_bytes(PNG_BYTES)
    with pytest.raises(ArtifactError) as info:
        verify_model(model)
    assert str(info.value) == (
        f"plots/extra.png is in {model} but not listed in its manifest: the folder was modified "
        "after the model was written."
    )


def test_a_symlink_in_the_folder_is_refused(model: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.json").write_text("{}\n", encoding="utf-8")
    (model / "link.json").symlink_to(tmp_path / "outside.json")
    with pytest.raises(ArtifactError, match=re.escape("link.json is a symbolic link")):
        verify_model(model)


def test_missing_or_invalid_manifest(model: Path) -> None:
    (model / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError) as info:
        verify_model(model)
    assert str(info.value) == (
        f"{model / MANIFEST_FILE} is not valid JSON: the artifact is corrupted or was modified."
    )
    (model / MANIFEST_FILE).unlink()
    with pytest.raises(ArtifactError) as info:
        verify_model(model)
    assert str(info.value) == (
        f"{model} has no manifest.json: the model was not written completely; retrain it."
    )


def test_a_flipped_byte_in_the_manifest_is_caught(model: Path) -> None:
    """Any byte: a metric's digit passes as JSON, and the manifest's own checksum catches it."""
    path = model / MANIFEST_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"silhouette": 0.41', '"silhouette": 0.51'), encoding="utf-8")
    with pytest.raises(ArtifactError) as info:
        verify_model(model)
    assert str(info.value) == (
        f"manifest.json of {model} does not match its own checksum: the artifact is corrupted "
        "or was modified."
    )
    for i in range(0, len(text), 97):  # bytes all over the file
        data = bytearray(text.encode("utf-8"))
        data[i] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(ArtifactError):
            verify_model(model)


def test_the_manifest_checksum_ignores_layout_but_is_required(model: Path) -> None:
    manifest = json.loads((model / MANIFEST_FILE).read_text(encoding="utf-8"))
    (model / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")  # no indent
    verify_model(model)
    manifest.pop("manifest_sha256")
    write_json(model / MANIFEST_FILE, manifest)
    with pytest.raises(ArtifactError) as info:
        verify_model(model)
    assert str(info.value) == (
        f"The manifest of {model} has no manifest_sha256 checksum: it was written by an older "
        "learnseg or edited by hand; retrain the model."
    )


def test_manifest_listing_a_path_outside_the_folder_is_refused(model: Path) -> None:
    _edit_manifest(model, files={"../../etc/passwd": "0" * 64})
    with pytest.raises(
        ArtifactError, match=re.escape("unsafe path '../../etc/passwd': path traversal")
    ):
        verify_model(model)


@pytest.mark.parametrize(("dist", "other"), [("scikit-learn", "1.4.2"), ("numpy", "1.26.4")])
def test_other_library_major_minor_is_refused_naming_both(
    model: Path, dist: str, other: str
) -> None:
    manifest = verify_model(model)
    running = ".".join(library_versions()[dist].split(".")[:2])
    _edit_manifest(model, versions={**manifest["versions"], dist: other})
    written = ".".join(other.split(".")[:2])
    with pytest.raises(ArtifactError) as info:
        verify_model(model)
    assert str(info.value) == (
        f"This model was written with {dist} {written} but {running} is running; retrain it or "
        f"install {dist} {written}."
    )
    verify_model(model, check_versions=False)  # the files themselves are fine


def test_another_patch_release_is_accepted(model: Path) -> None:
    manifest = verify_model(model)
    major_minor = ".".join(library_versions()["scikit-learn"].split(".")[:2])
    _edit_manifest(model, versions={**manifest["versions"], "scikit-learn": f"{major_minor}.99"})
    verify_model(model)


# --------------------------------------------------------------------------------------------
# finding a model
# --------------------------------------------------------------------------------------------


def test_resolve_without_a_model_dir_or_in_an_empty_one(model_dir: Path) -> None:
    message = (
        f"No trained model in {model_dir}/: run `make train` (or `python -m training train`) first."
    )
    with pytest.raises(ArtifactError) as info:
        resolve_model(model_dir)
    assert str(info.value) == message
    model_dir.mkdir()
    with pytest.raises(ArtifactError) as info:
        resolve_model(model_dir)
    assert str(info.value) == message


def test_resolve_message_names_the_relative_models_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArtifactError) as info:
        resolve_model(Path("models"))
    assert str(info.value) == (
        "No trained model in models/: run `make train` (or `python -m training train`) first."
    )


def test_resolve_latest_naming_a_missing_folder(model_dir: Path, model: Path) -> None:
    (model_dir / LATEST_FILE).write_text("20300101-000000\n", encoding="utf-8")
    with pytest.raises(ArtifactError) as info:
        resolve_model(model_dir)
    latest = model_dir / LATEST_FILE
    assert str(info.value) == (
        f"{latest} names version 20300101-000000, but {model_dir / '20300101-000000'} does not "
        f"exist: run `make train` again or write an existing version into {latest}."
    )


def test_resolve_without_latest_but_with_versions(model_dir: Path, model: Path) -> None:
    (model_dir / LATEST_FILE).unlink()
    with pytest.raises(
        ArtifactError, match=f"is missing, though .* holds the versions {re.escape(model.name)}"
    ):
        resolve_model(model_dir)


@pytest.mark.parametrize("content", ["../outside\n", "/etc\n", "\n"])
def test_resolve_refuses_a_latest_that_is_not_a_plain_name(
    model_dir: Path, model: Path, content: str
) -> None:
    (model_dir / LATEST_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ArtifactError, match="does not hold a valid version name"):
        resolve_model(model_dir)


@pytest.mark.parametrize("version", ["../x", "..", "/etc", "a/../../b", ".staging-x-1"])
def test_resolve_refuses_path_traversal(model_dir: Path, model: Path, version: str) -> None:
    with pytest.raises(ArtifactError) as info:
        resolve_model(model_dir, version)
    assert str(info.value) == (
        f"Model version {version!r} is not a plain folder name: path traversal is refused."
    )


def test_resolve_an_unknown_version_lists_the_known_ones(model_dir: Path, model: Path) -> None:
    with pytest.raises(ArtifactError) as info:
        resolve_model(model_dir, "20300101-000000")
    assert str(info.value) == (
        f"Model version 20300101-000000 is not in {model_dir}/: the versions there are "
        f"{model.name}."
    )


def test_resolve_refuses_a_version_folder_linked_outside(model_dir: Path, tmp_path: Path) -> None:
    outside = _write_model(tmp_path / "elsewhere", "v1")
    model_dir.mkdir()
    (model_dir / "v1").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArtifactError, match=r"outside .*: it is refused"):
        resolve_model(model_dir, "v1")


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def test_read_verified_refuses_a_hash_mismatch(model_dir: Path, model: Path) -> None:
    manifest = verify_model(model)
    joblib.dump(StandardScaler(), model / "segmenter.joblib")  # swapped after verification
    with pytest.raises(ArtifactError) as info:
        read_verified(model, "segmenter.joblib", manifest, model_dir)
    assert str(info.value) == (
        "segmenter.joblib does not match its SHA-256 in the manifest: the artifact is corrupted "
        "or was modified."
    )


def test_read_verified_refuses_a_symlink_pointing_outside(
    model_dir: Path, model: Path, tmp_path: Path
) -> None:
    manifest = verify_model(model)
    outside = tmp_path / "evil.joblib"
    (model / "segmenter.joblib").rename(outside)
    (model / "segmenter.joblib").symlink_to(outside)  # same bytes, so the hash would match
    with pytest.raises(
        ArtifactError, match=r"resolves to .*evil\.joblib, outside the model folder"
    ):
        read_verified(model, "segmenter.joblib", manifest, model_dir)


def test_read_verified_refuses_a_folder_outside_model_dir(model: Path, tmp_path: Path) -> None:
    manifest = verify_model(model)
    other_root = tmp_path / "other-root"
    other_root.mkdir()
    with pytest.raises(ArtifactError, match="outside the model folder"):
        read_verified(model, "segmenter.joblib", manifest, other_root)


def test_read_verified_refuses_unlisted_or_traversing_names(model_dir: Path, model: Path) -> None:
    manifest = verify_model(model)
    with pytest.raises(ArtifactError, match="is not listed in the manifest"):
        read_verified(model, "../../evil.joblib", manifest, model_dir)
    tampered = {**manifest, "files": {**manifest["files"], "../evil.joblib": "0" * 64}}
    with pytest.raises(ArtifactError, match=re.escape("unsafe path '../evil.joblib'")):
        read_verified(model, "../evil.joblib", tampered, model_dir)
