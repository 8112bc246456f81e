"""Service settings (service.config): keys kept out of the repr."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import service_settings

KEYS = ("key-one-8f2d", "key-two-1c9e")


def test_keys_are_not_in_the_settings_repr(service_model_dir: Path) -> None:
    settings = service_settings(service_model_dir, api_keys=KEYS)
    assert KEYS[0] not in repr(settings) and KEYS[0] not in str(settings)
