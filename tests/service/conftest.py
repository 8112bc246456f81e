"""Fixtures of the service's tests: an app on the session's model, and its Segmenter. A module
may define its own ``client`` (test_deps.py: one with API keys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.main import create_app
from service.segmenter import Segmenter
from tests.helpers import TestClient, service_settings


@pytest.fixture(scope="module")
def client(service_model_dir: Path) -> Iterator[TestClient]:
    """The app on the session's model, default settings, no API keys; lifespan run."""
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        yield client


@pytest.fixture(scope="module")
def segmenter(service_model_dir: Path) -> Segmenter:
    """The session's model, loaded and verified as the service loads it."""
    return Segmenter.load(service_model_dir)
