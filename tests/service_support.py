"""Helpers shared by the service tests (not a test module)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

from starlette.exceptions import StarletteDeprecationWarning

from service.config import ServiceSettings

with warnings.catch_warnings():
    # Starlette asks for httpx2 over httpx; either works for the TestClient (with httpx2 in the
    # dev extras this guard is a no-op).
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = ["JUNK", "LEARNERS", "TestClient", "copy_models", "flip_byte", "service_settings"]

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
