"""The read side of the model store (training.runtime.artifacts): listing versions, finding a
model (LATEST, a named version, path traversal refused), verifying it against its manifest, and
reading a file only from inside the folder once its SHA-256 matches. The models here are written
by tests.helpers.write_small_model; writing itself is tested in
tests/training/store/test_staging.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from tests.helpers import MODEL_FILES, PNG_BYTES, write_small_model
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
from training.store.staging import STAGING_PREFIX, seal_manifest, write_json


def _edit_manifest(folder: Path, **changes: Any) -> None:
    """Change manifest fields and re-seal it, as if it had been written that way."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest.update(changes)
    write_json(folder / MANIFEST_FILE, seal_manifest(manifest))


# --------------------------------------------------------------------------------------------
# digests, library versions, listing
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", MODEL_FILES)
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
    outside = write_small_model(tmp_path / "elsewhere", "v1")
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
