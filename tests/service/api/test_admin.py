"""Reloading over HTTP (service.api.admin): the version comes from the query or the body, not two
different ones; the answer names the version now served and the one before. Keys and roles are
in tests/service/test_security.py, failed reloads in tests/service/test_state.py."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import admin_client, service_settings
from training.runtime.artifacts import LATEST_FILE


def test_a_reload_names_the_version_once(service_model_dir: Path) -> None:
    version = (service_model_dir / LATEST_FILE).read_text().strip()
    with admin_client(service_settings(service_model_dir)) as client:
        both = client.post("/admin/reload?version=other", json={"version": version})
        assert both.status_code == 400
        assert both.json() == {
            "detail": f"Two versions were asked for (other and {version}): give one."
        }
        same = client.post(f"/v1/admin/reload?version={version}", json={"version": version})
        assert same.status_code == 200, same.text
        assert same.headers["x-model-version"] == version
        body = same.json()
        assert body["version"] == body["previous_version"] == version
        assert body["k"] == len(client.get("/segments").json()["segments"])
        by_query = client.post(f"/admin/reload?version={version}")
        assert by_query.status_code == 200 and by_query.json()["version"] == version
