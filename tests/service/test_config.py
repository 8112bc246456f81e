"""Service settings (service.config): keys from the environment, bounds refused in pydantic's
sentences, the body limit that follows the batch limit, and keys kept out of the repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.config import ServiceSettings, get_settings
from tests.helpers import service_settings

KEYS = ("key-one-8f2d", "key-two-1c9e")


def test_keys_are_not_in_the_settings_repr(service_model_dir: Path) -> None:
    settings = service_settings(service_model_dir, api_keys=KEYS)
    assert KEYS[0] not in repr(settings) and KEYS[0] not in str(settings)


def test_api_keys_are_a_comma_separated_list(no_learnseg_env: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().api_keys == ()  # no keys: authentication off
    no_learnseg_env.setenv("LEARNSEG_API_KEYS", " key-one-8f2d,, key-two-1c9e ,")
    assert ServiceSettings().api_keys == KEYS  # blanks and empty items dropped
    no_learnseg_env.setenv("LEARNSEG_API_KEYS", " , ")
    assert ServiceSettings().api_keys == ()
    assert ServiceSettings(api_keys=[" key-one-8f2d ", "", "key-two-1c9e"]).api_keys == KEYS


def test_bounds_are_refused_naming_each_setting(no_learnseg_env: pytest.MonkeyPatch) -> None:
    no_learnseg_env.setenv("LEARNSEG_PORT", "70000")
    no_learnseg_env.setenv("LEARNSEG_MAX_BATCH", "0")
    values: dict[str, Any] = {"workers": 0, "max_body_bytes": 100, "log_level": "loud"}
    with pytest.raises(ValidationError) as info:
        ServiceSettings(**values)
    assert [(error["loc"], error["msg"]) for error in info.value.errors()] == [
        (("port",), "Input should be less than or equal to 65535"),
        (("workers",), "Input should be greater than or equal to 1"),
        (("max_batch",), "Input should be greater than or equal to 1"),
        (("max_body_bytes",), "Input should be greater than or equal to 1024"),
        (("log_level",), "Input should be 'debug', 'info', 'warning', 'error' or 'critical'"),
    ]
    no_learnseg_env.setenv("LEARNSEG_LOG_LEVEL", "WARNING")
    assert ServiceSettings(port=8000, max_batch=1).log_level == "warning"


def test_the_body_limit_follows_the_batch_limit_unless_set(
    no_learnseg_env: pytest.MonkeyPatch,
) -> None:
    assert ServiceSettings().body_limit == 10_000 * 4096 + (1 << 20)
    assert ServiceSettings(max_batch=100).body_limit == 100 * 4096 + (1 << 20)
    assert ServiceSettings(max_batch=100, max_body_bytes=2048).body_limit == 2048


def test_get_settings_reads_the_environment_under_its_overrides(
    no_learnseg_env: pytest.MonkeyPatch,
) -> None:
    no_learnseg_env.setenv("LEARNSEG_PORT", "9100")
    no_learnseg_env.setenv("LEARNSEG_MODEL_DIR", "/srv/models")
    settings = get_settings(port=None, host="0.0.0.0")  # None: not given, the variable counts
    assert (settings.port, settings.host, settings.model_dir) == (
        9100,
        "0.0.0.0",
        Path("/srv/models"),
    )
    assert get_settings(port=9200).port == 9200


def test_keys_of_every_role_and_their_files_come_from_the_environment(
    no_learnseg_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Metrics keys split like the others; a keys file of either placing role turns
    authentication on (the service is no longer anonymous), metrics keys alone do not."""
    no_learnseg_env.setenv("LEARNSEG_METRICS_KEYS", "prometheus:m-1, m-2")
    settings = ServiceSettings()
    assert settings.metrics_keys == ("prometheus:m-1", "m-2") and settings.anonymous
    assert "m-1" not in repr(settings)
    no_learnseg_env.setenv("LEARNSEG_ADMIN_KEYS_FILE", str(tmp_path / "admin-keys"))
    settings = ServiceSettings()
    assert settings.admin_keys_file == tmp_path / "admin-keys" and not settings.anonymous
    assert not ServiceSettings(api_keys_file=tmp_path / "keys").anonymous
    assert (settings.keys_check_seconds, settings.auth_fail_burst) == (2.0, 20)
    assert settings.auth_fail_per_second == 1.0
    with pytest.raises(ValidationError) as info:
        ServiceSettings(auth_fail_per_second=0, auth_fail_burst=-1)
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [
        (("auth_fail_burst",), "Input should be greater than or equal to 0"),
        (("auth_fail_per_second",), "Input should be greater than 0"),
    ]
