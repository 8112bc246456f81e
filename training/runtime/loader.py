"""The one verified-model loader: a model folder read, checked and ready to place learners.

Every reader of a published model goes through :func:`load_model`: the service (which then adds
the fitted pipeline of ``segmenter.joblib`` and its probe check, :mod:`service.segmenter`),
``python -m training assign`` and ``python -m training drift``. It

1. resolves the folder: a version folder, a models folder (its ``LATEST``), or a models folder
   and a version name;
2. verifies every file against the manifest (:func:`~training.runtime.artifacts.verify_model`);
3. reads ``segmenter.json`` into the numpy :class:`~training.runtime.kernel.Kernel` and the
   course of every cohort (its ``cohorts`` section,
   :class:`~training.runtime.courses.CohortCourses`), ``profiles.json`` and ``drift.json`` from
   the very bytes it checked (:func:`~training.runtime.artifacts.read_verified`);
4. refuses a model whose drift reference, profiles or cohorts describe other features,
   segments or tracks than its kernel.

Every refusal is an :class:`~training.runtime.artifacts.ArtifactError` with one sentence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.runtime.artifacts import (
    DRIFT_JSON,
    KERNEL_JSON,
    LATEST_FILE,
    MANIFEST_FILE,
    PROFILES_JSON,
    ArtifactError,
    read_verified,
    resolve_model,
    verify_model,
)
from training.runtime.courses import CohortCourses
from training.runtime.drift import DriftReference
from training.runtime.kernel import Kernel

__all__ = ["VerifiedModel", "load_model", "model_folder"]


@dataclass(frozen=True)
class VerifiedModel:
    """A model folder whose every file matched the manifest, read engine-free.

    Attributes
    ----------
    folder : Path
        The version folder.
    model_dir : Path
        The models folder it lies in (nothing outside it is read).
    manifest : dict
        ``manifest.json``.
    kernel : Kernel
        ``segmenter.json``: cleaning rules, peer tables, scaling and centres.
    cohorts : CohortCourses
        ``segmenter.json``'s ``cohorts``: the course of every segment x track.
    profiles : dict
        ``profiles.json``.
    drift : DriftReference or None
        ``drift.json``, checked against the kernel; None for a model trained before it existed.
    """

    folder: Path
    model_dir: Path
    manifest: dict[str, Any]
    kernel: Kernel
    profiles: dict[str, Any]
    drift: DriftReference | None
    cohorts: CohortCourses

    @property
    def version(self) -> str:
        """The version name (the manifest's, else the folder's)."""
        return str(self.manifest.get("version", self.folder.name))

    def names(self) -> dict[int, str]:
        """Segment id -> name, from ``profiles.json``."""
        return {int(p["id"]): str(p["name"]) for p in self.profiles["segments"]}

    def read(self, name: str) -> bytes:
        """The bytes of another file of the folder, checked against the manifest as read."""
        return read_verified(self.folder, name, self.manifest, self.model_dir)

    def document(self, name: str) -> Any:
        """A JSON file of the folder, checked against the manifest as read."""
        return json.loads(self.read(name).decode("utf-8"))


def model_folder(path: Path, version: str | None = None) -> tuple[Path, Path]:
    """The version folder and the models folder named by ``path`` (and ``version``).

    ``path`` is a version folder (it holds ``manifest.json``) or a models folder (it holds
    ``LATEST`` or the version named by ``version``).

    Raises
    ------
    ArtifactError
        No such folder, or a folder that is neither kind.
    """
    if not path.exists():
        raise ArtifactError(f"The model folder {path} does not exist.")
    if not path.is_dir():
        raise ArtifactError(f"{path} is not a model folder (a version folder or a models folder).")
    if version is None and (path / MANIFEST_FILE).is_file():
        return path, path.parent
    if version is not None or (path / LATEST_FILE).exists():
        return resolve_model(path, version), path
    raise ArtifactError(
        f"{path} is not a model folder: it holds neither {MANIFEST_FILE} (a version folder) "
        f"nor {LATEST_FILE} (a models folder)."
    )


def load_model(
    path: Path,
    version: str | None = None,
    *,
    check_versions: bool = False,
    purpose: str = "used",
) -> VerifiedModel:
    """Resolve, verify and read a published model (the steps of the module docstring).

    Parameters
    ----------
    path : Path
        A version folder, or a models folder (its ``LATEST`` unless ``version``).
    version : str, optional
        A version name inside the models folder ``path``.
    check_versions : bool, default=False
        Also require the numpy and scikit-learn major.minor the model was written with (needed
        only by a reader that unpickles ``segmenter.joblib``: the service).
    purpose : str, default="used"
        What the model cannot be when it is refused, in the error ("served" for the service).

    Raises
    ------
    ArtifactError
        With one sentence: no model, a file that does not match its SHA-256, other library
        versions (with ``check_versions``), an unreadable ``segmenter.json``, or a drift
        reference or profiles that describe another model.
    """
    folder, model_dir = model_folder(path, version)
    manifest = verify_model(folder, check_versions=check_versions)

    def document(name: str) -> Any:
        return json.loads(read_verified(folder, name, manifest, model_dir).decode("utf-8"))

    try:
        kernel_doc = document(KERNEL_JSON)
        kernel = Kernel.from_dict(kernel_doc)
        cohorts = _cohorts(kernel_doc, kernel)
        profiles = document(PROFILES_JSON)
        segments = profiles["segments"]
        names = {int(p["id"]) for p in segments}
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            f"Model {folder.name} cannot be {purpose}: {exc} Retrain it with this learnseg."
        ) from None
    missing = [int(i) for i in kernel.segment_ids if int(i) not in names]
    if missing:
        raise ArtifactError(f"{PROFILES_JSON} of {folder.name} has no segment {missing[0]}.")
    drift = (
        _drift_reference(document(DRIFT_JSON), kernel, f"Model {folder.name} cannot be {purpose}")
        if DRIFT_JSON in manifest["files"]
        else None
    )
    return VerifiedModel(
        folder=folder,
        model_dir=model_dir,
        manifest=manifest,
        kernel=kernel,
        profiles=profiles,
        drift=drift,
        cohorts=cohorts,
    )


def _cohorts(doc: Any, kernel: Kernel) -> CohortCourses:
    """The ``cohorts`` section of ``segmenter.json``, checked against its kernel.

    Raises ``ValueError`` (a sentence the caller words as a refusal) when it is missing or
    describes other segments or tracks than the kernel.
    """
    if "cohorts" not in doc:
        raise ValueError(f"{KERNEL_JSON} holds no course per segment and track (cohorts).")
    cohorts = CohortCourses.from_dict(doc["cohorts"])
    if sorted(cohorts.segment_ids) != sorted(kernel.segment_ids.tolist()):
        raise ValueError(f"the cohorts of {KERNEL_JSON} are of other segments than its centres.")
    if cohorts.tracks != kernel.rules.tracks.ids:
        raise ValueError(f"the cohorts of {KERNEL_JSON} are of other tracks than its title map.")
    return cohorts


def _drift_reference(doc: Any, kernel: Kernel, refused: str) -> DriftReference:
    """The model's drift reference; refused with a sentence when it is not the model's."""
    try:
        reference = DriftReference.from_dict(doc)
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            f"{refused}: {DRIFT_JSON} is not usable ({exc}). Retrain it with this learnseg."
        ) from None
    if reference.features != kernel.features or sorted(reference.segment_ids) != sorted(
        kernel.segment_ids.tolist()
    ):
        raise ArtifactError(
            f"{DRIFT_JSON} and {KERNEL_JSON} describe different models (features or segment "
            "ids differ); the model is refused."
        )
    return reference
