"""Pinned model versions and rollouts (service.state, service.deps): a run pinned to a version
ends on it across a reload, the last N versions stay loaded, a version not loaded is a 409 that
lists the loaded ones, every model route says which version answered, and workers follow
LATEST and each other's reloads."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from learnseg_client import Assignment, AsyncLearnsegClient, VersionNotLoadedError
from service.main import create_app
from tests.helpers import (
    ADMIN_KEY,
    JUNK,
    LEARNERS,
    TestClient,
    admin_client,
    copy_models,
    flip_byte,
    service_settings,
    small_training_settings,
)
from training.run import TrainingResult, run
from training.runtime.artifacts import LATEST_FILE


@pytest.fixture(scope="module")
def two_versions(
    service_model_dir: Path, trained_small: TrainingResult, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, str]:
    """A model folder with two versions, LATEST naming the second."""
    model_dir = copy_models(service_model_dir, tmp_path_factory.mktemp("versions") / "models")
    second = run(small_training_settings(model_dir, seed=3))
    assert second.version != trained_small.version
    return model_dir, trained_small.version, second.version


def _nightly_learners(n: int) -> list[dict[str, Any]]:
    base = [*LEARNERS, JUNK]
    return [
        {
            **base[i % len(base)],
            "ctc": base[i % len(base)]["ctc"] * (1 + i / n),
            "email_hash": f"n{i}",
        }
        for i in range(n)
    ]


def test_a_nightly_run_pinned_to_a_version_ends_on_it_across_a_reload(
    two_versions: tuple[Path, str, str],
) -> None:
    """20 x 10,000 learners pinned to V, a reload to W after the 4th batch: every result from
    V (the same answers as before the reload); unpinned calls afterwards get W."""
    model_dir, first, second = two_versions
    learners = _nightly_learners(10_000)
    with admin_client(service_settings(model_dir, model_version=first)) as client:
        profile = client.get("/v1/segments/0").json()
        answers: list[list[dict[str, Any]]] = []
        for night in range(20):
            if night == 4:
                reload = client.post("/v1/admin/reload")
                assert reload.status_code == 200 and reload.json()["version"] == second
                assert reload.headers["X-Model-Version"] == second
            response = client.post(
                "/v1/segment/batch",
                params={"version": first, "compact": "true"},
                json={"learners": learners},
            )
            assert response.status_code == 200, response.text
            assert response.headers["X-Model-Version"] == first
            results = response.json()["results"]
            assert len(results) == 10_000
            assert {r["model_version"] for r in results} == {first}
            assert [r["email_hash"] for r in results] == [x["email_hash"] for x in learners]
            answers.append(results)
        assert all(results == answers[0] for results in answers)

        unpinned = client.post("/v1/segment", json=LEARNERS[0])
        assert unpinned.json()["model_version"] == second
        assert unpinned.headers["X-Model-Version"] == second
        again = client.get("/v1/segments/0", params={"version": first})
        assert again.headers["X-Model-Version"] == first and again.json() == profile
        listed = client.get("/v1/segments", params={"version": first})
        assert listed.status_code == 200 and listed.headers["X-Model-Version"] == first
        single = client.post("/v1/segment", params={"version": first}, json=LEARNERS[0])
        assert single.json()["model_version"] == first


def test_the_last_n_versions_stay_loaded_and_others_are_a_409(
    two_versions: tuple[Path, str, str],
) -> None:
    model_dir, first, second = two_versions
    with admin_client(service_settings(model_dir, model_version=first)) as client:
        assert client.post("/v1/admin/reload").json()["version"] == second
        serving = client.get("/v1/model").json()["serving"]
        assert serving == {
            "version": second,
            "loaded_versions": [second, first],
            "follows_latest": False,
            "poll_seconds": 5.0,
        }
        assert client.get("/v1/model", params={"version": first}).json()["version"] == first
        missing = client.post("/v1/segment", params={"version": "20990101-000000"}, json=JUNK)
        assert missing.status_code == 409
        assert missing.json() == {
            "detail": "Model version 20990101-000000 is not loaded; the loaded versions are "
            f"{second}, {first} (the first is served when no version is given)."
        }
        bad = client.get("/v1/segments", params={"version": "../etc"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "version"]

    one = service_settings(model_dir, model_version=first, keep_versions=1)
    with admin_client(one) as client:
        client.post("/v1/admin/reload")
        evicted = client.post("/v1/segment/batch", params={"version": first}, json={"learners": []})
        assert evicted.status_code == 409
        assert evicted.json()["detail"] == (
            f"Model version {first} is not loaded; the loaded versions are {second} (the first "
            "is served when no version is given)."
        )


def test_a_process_starts_holding_the_last_versions_on_disk(
    two_versions: tuple[Path, str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh process serves LATEST and also loads the newest other versions on disk until it
    holds keep_versions, newest first, skipping (and logging) one that fails verification: a
    run pinned to the previous version is answered by a process that has just started."""
    model_dir = copy_models(two_versions[0], tmp_path / "models")
    _, first, second = two_versions
    broken = "20990101-000000"  # the newest name on disk, and corrupted
    flip_byte(copy_models(model_dir / second, model_dir / broken) / "profiles.json")
    caplog.set_level(logging.INFO, logger="service.state")
    with admin_client(service_settings(model_dir)) as client:
        serving = client.get("/v1/model").json()["serving"]
        assert serving["version"] == second and serving["loaded_versions"] == [second, first]
        pinned = client.post(
            "/v1/segment/batch", params={"version": first}, json={"learners": LEARNERS}
        )
        assert pinned.status_code == 200 and pinned.headers["X-Model-Version"] == first
        assert {r["model_version"] for r in pinned.json()["results"]} == {first}
        refused = client.post("/v1/segment", params={"version": broken}, json=LEARNERS[0])
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            f"Model version {broken} is not loaded; the loaded versions are {second}, {first} "
            "(the first is served when no version is given)."
        )
        # a rollback to the version loaded at start keeps both held
        assert client.post("/v1/admin/reload", json={"version": first}).status_code == 200
        assert client.get("/v1/model").json()["serving"]["loaded_versions"] == [first, second]
    skipped = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        m.startswith(f"Model version {broken} is not held: profiles.json does not match")
        for m in skipped
    ), skipped
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Serving")]
    assert started[0].endswith(f"versions held: {second}, {first}.")

    for keep, held in ((1, [second]), (3, [second, first])):
        with TestClient(create_app(service_settings(model_dir, keep_versions=keep))) as client:
            assert client.get("/v1/model").json()["serving"]["loaded_versions"] == held
    with TestClient(create_app(service_settings(model_dir, model_version=first))) as client:
        assert client.get("/v1/model").json()["serving"]["loaded_versions"] == [first, second]


@pytest.mark.parametrize(
    "path", ["/v1/segments", "/v1/segments/0", "/v1/model", "/v1/model/drift", "/health/ready"]
)
def test_every_model_route_names_the_version_that_answered(
    client: TestClient, trained_small: TrainingResult, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["X-Model-Version"] == trained_small.version
    assert "X-Model-Version" not in client.get("/health/live").headers


def _wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.02)
    return time.monotonic() - start


def _served(client: TestClient) -> str:
    version: str = client.get("/health/ready").json()["model_version"]
    return version


def test_a_worker_follows_changes_of_latest_not_differences(
    two_versions: tuple[Path, str, str], tmp_path: Path
) -> None:
    model_dir = copy_models(two_versions[0], tmp_path / "models")
    _, first, second = two_versions
    latest = model_dir / LATEST_FILE
    settings = service_settings(
        model_dir, model_version=first, follow_latest=True, poll_seconds=0.05
    )
    with TestClient(create_app(settings)) as client:
        # Started on a pinned version: LATEST naming another does not move it...
        time.sleep(0.3)
        assert _served(client) == first
        # ...a new LATEST does, once the model is verified.
        latest.write_text(first + "\n")
        time.sleep(0.3)
        latest.write_text(second + "\n")
        _wait_for(lambda: _served(client) == second)
        # A broken version named by LATEST is refused; the current model keeps serving.
        broken = "20990101-000000"
        copied = copy_models(model_dir / second, model_dir / broken)
        flip_byte(copied / "profiles.json")
        latest.write_text(broken + "\n")
        _wait_for(
            lambda: 'learnseg_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text
        )
        assert _served(client) == second
        assert client.get("/v1/model").json()["serving"]["follows_latest"] is True


def test_a_reload_reaches_the_other_workers_through_the_signal(
    two_versions: tuple[Path, str, str], tmp_path: Path
) -> None:
    """Two apps sharing a reload signal, as two workers of one process: an admin reload on one
    switches the other within a polling interval, and neither drifts back to LATEST."""
    model_dir, first, second = two_versions
    signal = tmp_path / "reload-signal.json"
    settings = service_settings(
        model_dir, follow_latest=True, poll_seconds=0.05, reload_signal=signal
    )
    with admin_client(settings) as one, TestClient(create_app(settings)) as other:
        assert _served(one) == _served(other) == second
        rollback = one.post("/v1/admin/reload", json={"version": first})
        assert rollback.status_code == 200
        waited = _wait_for(lambda: _served(other) == first)
        assert waited < 2.0
        time.sleep(0.3)
        assert _served(one) == _served(other) == first  # LATEST (second) did not change
        # A worker started later serves what the others serve.
        with TestClient(create_app(settings)) as late:
            assert _served(late) == first


def test_the_client_pins_a_version_and_types_a_version_not_loaded(
    two_versions: tuple[Path, str, str],
) -> None:
    model_dir, first, second = two_versions
    app = create_app(service_settings(model_dir, model_version=first, admin_keys=(ADMIN_KEY,)))

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            AsyncLearnsegClient(
                "http://test", api_key=ADMIN_KEY, transport=transport, version=first
            ) as pinned,
        ):
            learners = [{**x, "email_hash": f"c{i}"} for i, x in enumerate(LEARNERS)]
            before = await pinned.segment_batch(learners)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as admin:
                reload = await admin.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY})
                assert reload.json()["version"] == second  # the service moved on
            after = await pinned.segment_batch(learners)
            assert after == before
            assert {r.model_version for r in after if isinstance(r, Assignment)} == {first}
            assert [r.email_hash for r in after] == [f"c{i}" for i in range(len(LEARNERS))]
            unpinned = await pinned.segment(LEARNERS[0], version=second)
            assert unpinned.model_version == second
            with pytest.raises(VersionNotLoadedError) as caught:
                await pinned.segments(version="20990101-000000", request_id="night-7")
            assert caught.value.status_code == 409 and caught.value.request_id == "night-7"
            assert f"the loaded versions are {second}, {first}" in str(caught.value)

    anyio.run(scenario)
