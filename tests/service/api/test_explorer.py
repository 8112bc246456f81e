"""The explorer page and the report's plots (service.api.explorer): the page is static and
outside the API's document, a plot is served by name only, and a missing one is a sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.api.explorer import PLOT_NAMES
from service.main import create_app
from tests.helpers import TestClient, copy_models, service_settings
from training.run import TrainingResult
from training.runtime.artifacts import LATEST_FILE, MANIFEST_FILE, plot_file
from training.store.staging import finalize_manifest


def test_the_page_is_served_at_the_root_only(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()
    assert client.get("/v1/").status_code == 404
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_the_page_can_be_turned_off(service_model_dir: Path) -> None:
    with TestClient(create_app(service_settings(service_model_dir, explorer=False))) as client:
        assert client.get("/").status_code == 404
        assert client.get("/v1/plots/elbow.png").status_code == 200


@pytest.mark.parametrize("name", PLOT_NAMES)
def test_every_plot_of_the_report_is_served(
    client: TestClient, trained_small: TrainingResult, name: str
) -> None:
    for path in (f"/v1/plots/{name}.png", f"/plots/{name}.png"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "image/png"
        assert response.content == (trained_small.folder / plot_file(name)).read_bytes()


@pytest.mark.parametrize("name", ["report", "manifest", "x"])
def test_only_the_named_plots_are_served(client: TestClient, name: str) -> None:
    response = client.get(f"/v1/plots/{name}.png")
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"There is no plot {name!r}; the plots are "
        "ctc_experience, segment_map, profile_heatmap, elbow, dendrogram."
    }
    # a name is one path segment: nothing else of the folder can be reached
    assert client.get(f"/v1/plots/..%2F{name}.png").status_code == 404


def test_a_model_without_a_plot_says_so(service_model_dir: Path, tmp_path: Path) -> None:
    models = copy_models(service_model_dir, tmp_path / "models")
    folder = models / (models / LATEST_FILE).read_text().strip()
    (folder / plot_file("elbow")).unlink()
    finalize_manifest(folder, json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    with TestClient(create_app(service_settings(models))) as client:
        response = client.get("/v1/plots/elbow.png")
        assert client.get("/v1/plots/dendrogram.png").status_code == 200
    assert response.status_code == 404
    assert response.json() == {"detail": f"Model {folder.name} has no plot 'elbow'."}
