"""learnseg_client against the real service (``python -m service`` on loopback): every call,
typed errors and request ids; then batch runs across what a deployment does to them: a rollout
(LATEST changed mid-run), SIGTERM mid-run and a restart (resume), two processes behind a load
balancer of which one lacks the pinned version, compact runs, and the client's memory."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from learnseg_client import (
    Assignment,
    AsyncLearnsegClient,
    Checkpoint,
    CompactAssignment,
    InvalidRequestError,
    ItemError,
    LearnsegClient,
    LearnsegError,
    NotFoundError,
    NotReadyError,
    UnauthorizedError,
    VersionNotLoadedError,
)
from tests.helpers import (
    REPO,
    SERVICE_READY,
    copy_models,
    free_port,
    live_service,
    raw_learners,
    running_service,
    service_env,
    small_training_settings,
)
from training.run import TrainingResult, run
from training.runtime.artifacts import LATEST_FILE

live = pytest.mark.skipif(
    not SERVICE_READY, reason="service/__main__.py and service/main.py are not written yet"
)


LEARNERS: list[dict[str, Any]] = [
    {
        "company_hash": "atrgxnnt xzaxv",
        "email_hash": "6de0a4417d18ab14334c3f43d6ef9c3c",
        "orgyear": 2016,
        "ctc": 1_100_000,
        "job_position": "Backend Engineer",
        "ctc_updated_year": 2020,
    },
    {"ctc": 450_000, "orgyear": 2021},
    {"ctc": 2_500_000, "orgyear": 2009, "job_position": "engineering leadership"},
]


@pytest.fixture(scope="module")
def live_url(
    trained_small: TrainingResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if not SERVICE_READY:
        pytest.skip("service/__main__.py and service/main.py are not written yet")
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "service",
        "--model-dir",
        str(trained_small.folder.parent),
        "--port",
        str(port),
    ]
    log = tmp_path_factory.mktemp("live") / "service.log"
    with running_service(command, service_env(LEARNSEG_API_KEYS="k1"), port, log) as base:
        yield base


def _check_assignment(got: Assignment, version: str) -> None:
    assert isinstance(got, Assignment)
    assert got.model_version == version
    assert got.segment_name
    assert got.distance >= 0
    assert got.features and all(isinstance(v, float) for v in got.features.values())
    if got.runner_up is not None:
        assert got.runner_up.segment_id != got.segment_id
        assert got.runner_up.distance >= got.distance
        assert got.margin is not None and got.margin >= 0


def _check_same_placement(batch_item: Assignment | ItemError, single: Assignment) -> None:
    """The batch path (numpy) places a learner like the single path (scalars), to rounding."""
    assert isinstance(batch_item, Assignment)
    assert batch_item.segment_id == single.segment_id
    assert batch_item.coarse_segment_id == single.coarse_segment_id
    assert batch_item.features == pytest.approx(single.features, rel=1e-12)
    assert batch_item.distance == pytest.approx(single.distance, rel=1e-12)
    assert batch_item.warnings == single.warnings
    if single.runner_up is None:
        assert batch_item.runner_up is None
    else:
        assert batch_item.runner_up is not None
        assert batch_item.runner_up.segment_id == single.runner_up.segment_id
        assert batch_item.runner_up.distance == pytest.approx(single.runner_up.distance, rel=1e-12)


@live
def test_live_sync(live_url: str, trained_small: TrainingResult) -> None:
    with LearnsegClient(live_url, api_key="k1") as client:
        one = client.segment(LEARNERS[0])
        _check_assignment(one, trained_small.version)
        explained = client.explain(LEARNERS[0])  # the same placement, and why
        _check_assignment(explained, trained_small.version)
        assert (explained.segment_id, explained.distance) == (one.segment_id, one.distance)
        assert [w.input for w in explained.why] == list(one.features)

        batch = client.segment_batch([*LEARNERS, {"ctc": -5}])
        assert len(batch) == len(LEARNERS) + 1
        for got in batch[: len(LEARNERS)]:
            assert isinstance(got, Assignment)
            _check_assignment(got, trained_small.version)
        _check_same_placement(batch[0], one)
        last = batch[-1]
        assert isinstance(last, ItemError) and last.index == len(LEARNERS)
        assert last.error

        segments = client.segments()
        assert len(segments) == trained_small.k
        coarse = client.segments(level="coarse")
        assert 0 < len(coarse) <= len(segments)

        # The list holds summaries; a profile is the full record of the same segment.
        summary = next(s for s in segments if s.id == one.segment_id)
        profile = client.segment_profile(one.segment_id)
        assert (profile["id"], profile["name"]) == (one.segment_id, one.segment_name)
        assert profile["name"] == summary.name and profile["size"] == summary.size
        coarse_profile = client.segment_profile(one.coarse_segment_id, level="coarse")
        assert coarse_profile["id"] == one.coarse_segment_id
        assert coarse_profile["name"] in {c.name for c in coarse}

        with pytest.raises(LearnsegError) as info:
            client.segment_profile(999)
        assert info.value.status_code == 404
        assert isinstance(info.value.detail, str) and info.value.detail

        with pytest.raises(LearnsegError) as info:
            client.segment({"orgyear": 2015})  # ctc is required
        assert info.value.status_code == 422
        assert isinstance(info.value.detail, list)


@live
def test_live_async(live_url: str, trained_small: TrainingResult) -> None:
    async def main() -> None:
        async with AsyncLearnsegClient(live_url, api_key="k1") as client:
            one, batch, segments = await asyncio.gather(
                client.segment(LEARNERS[1]),
                client.segment_batch(LEARNERS),
                client.segments(),
            )
            _check_assignment(one, trained_small.version)
            _check_same_placement(batch[1], one)
            assert len(segments) == trained_small.k
            profile = await client.segment_profile(one.segment_id)
            assert profile["id"] == one.segment_id
            coarse = await client.segments(level="coarse")
            coarse_profile = await client.segment_profile(coarse[0].id, level="coarse")
            assert coarse_profile["name"] == coarse[0].name

    asyncio.run(main())


@live
@pytest.mark.parametrize("key", ["wrong", None])
def test_live_wrong_or_missing_key_is_401_and_not_retried(live_url: str, key: str | None) -> None:
    with LearnsegClient(live_url, api_key=key) as client:
        client._sleep = lambda _delay: pytest.fail("a 401 must not be retried")
        with pytest.raises(LearnsegError) as info:
            client.segment(LEARNERS[0])
    assert info.value.status_code == 401
    assert isinstance(info.value.detail, str) and info.value.detail


@live
def test_live_async_wrong_key_is_401(live_url: str) -> None:
    async def main() -> None:
        async with AsyncLearnsegClient(live_url, api_key="wrong") as client:
            await client.segments()

    with pytest.raises(LearnsegError) as info:
        asyncio.run(main())
    assert info.value.status_code == 401


@live
def test_live_split_batches_typed_errors_and_retry_after(
    trained_small: TrainingResult, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Against a real server: a batch over max_batch is split and kept in order; errors are
    typed and keep the request id the service logged; a 503 carries Retry-After."""
    port = free_port()
    model_dir = str(trained_small.folder.parent)
    command = [sys.executable, "-m", "service", "--model-dir", model_dir, "--port", str(port)]
    log = tmp_path_factory.mktemp("split") / "service.log"
    env = service_env(LEARNSEG_API_KEYS="k1", LEARNSEG_MAX_BATCH="2")
    learners = [*LEARNERS, {"ctc": -5}, LEARNERS[0]]
    with running_service(command, env, port, log) as base:
        with LearnsegClient(base, api_key="k1") as client:
            assert client.model().max_batch == 2
            got = client.segment_batch(learners)
            singles = [client.segment(learner) for learner in LEARNERS]
            with pytest.raises(NotFoundError) as missing:
                client.segment_profile(99, request_id="lms-trace-42")
            with pytest.raises(InvalidRequestError) as invalid:
                client.segment({"orgyear": 2016})
        with (
            LearnsegClient(base, api_key="wrong", retries=0) as stranger,
            pytest.raises(UnauthorizedError),
        ):
            stranger.segments()
    assert len(got) == 5 and got[3] == ItemError(index=3, error=got[3].error)  # type: ignore[union-attr]
    for item, single in zip([*got[:3], got[4]], [*singles, singles[0]], strict=True):
        _check_same_placement(item, single)
    assert missing.value.request_id == "lms-trace-42"
    assert "lms-trace-42" in log.read_text(encoding="utf-8")  # findable in the service's logs
    assert invalid.value.fields == ["ctc"] and invalid.value.request_id

    empty = tmp_path_factory.mktemp("empty")
    port = free_port()
    command = [sys.executable, "-m", "service", "--model-dir", str(empty), "--port", str(port)]
    with running_service(command, service_env(), port, log, wait_for="/health/live") as base:
        response = httpx.get(f"{base}/model")
        assert response.status_code == 503 and response.headers["Retry-After"] == "2"
        with (
            LearnsegClient(base, retries=1, max_delay=0.01) as client,
            pytest.raises(NotReadyError) as not_ready,
        ):
            client.model()
    assert "No trained model" in str(not_ready.value.detail)


# --------------------------------------------------------------------------- runs and rollouts
CHUNK = 250
RUN_LEARNERS = 3_000


@pytest.fixture(scope="module")
def versions(
    service_model_dir: Path, trained_small: TrainingResult, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The session's model folder (V1) and a second version's (V2), trained on another seed
    into a copy of the models folder (so its version name is a new one)."""
    if not SERVICE_READY:
        pytest.skip("service/__main__.py and service/main.py are not written yet")
    copy = copy_models(service_model_dir, tmp_path_factory.mktemp("two") / "models")
    second = run(small_training_settings(copy, seed=3))
    assert second.version != trained_small.version
    return trained_small.folder, second.folder


@pytest.fixture(scope="module")
def run_learners(small_raw: pd.DataFrame) -> list[dict[str, Any]]:
    """3,000 raw learners as the API takes them (the synthetic table's junk included), each
    with its email_hash, some of them invalid for the API (item errors)."""
    learners = raw_learners(small_raw.head(RUN_LEARNERS))
    for i, learner in enumerate(learners):
        learner["email_hash"] = f"mail-{i}"
        if i % 997 == 5:
            learner["ctc"] = -1
    return learners


def _models_with(tmp: Path, folder: Path) -> Path:
    """A models folder holding only `folder`'s version, LATEST naming it."""
    model_dir = tmp / "models"
    model_dir.mkdir()
    shutil.copytree(folder, model_dir / folder.name)
    (model_dir / LATEST_FILE).write_text(folder.name, encoding="utf-8")
    return model_dir


def _publish(model_dir: Path, folder: Path) -> None:
    """Write a new version into the models folder, then point LATEST at it (atomically)."""
    shutil.copytree(folder, model_dir / folder.name)
    staged = model_dir / f"{LATEST_FILE}.tmp-test"
    staged.write_text(folder.name, encoding="utf-8")
    os.replace(staged, model_dir / LATEST_FILE)


def _wait_until_served(url: str, version: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/v1/model", timeout=5.0).json()["version"] != version:
        assert time.monotonic() < deadline, f"{url} did not switch to {version}"
        time.sleep(0.05)


def _versions(results: list[Any]) -> set[str]:
    return {r.model_version for r in results if not isinstance(r, ItemError)}


def test_a_run_across_a_rollout_stays_on_the_version_it_started_with(
    versions: tuple[Path, Path],
    run_learners: list[dict[str, Any]],
    tmp_path: Path,
    figures: list[str],
) -> None:
    """LATEST names V2 after 750 of 3,000 learners and the service switches (it follows LATEST
    every 0.1 s): every result of the run comes from V1, identical to a run with no rollout."""
    first, second = versions
    model_dir = _models_with(tmp_path, first)
    env = {"LEARNSEG_POLL_SECONDS": "0.1"}
    with (
        live_service(model_dir, tmp_path / "service.log", env=env) as service,
        LearnsegClient(service.url) as client,
    ):
        expected = client.segment_batch(run_learners, chunk_size=CHUNK)
        got: list[Any] = []
        for result in client.segment_stream(iter(run_learners), chunk_size=CHUNK):
            got.append(result)
            if len(got) == 3 * CHUNK:
                _publish(model_dir, second)
                _wait_until_served(service.url, second.name)
        after = client.segment(run_learners[0])
    assert after.model_version == second.name  # the rollout happened in the middle of the run
    assert _versions(expected) == _versions(got) == {first.name}
    assert [r.index for r in got] == list(range(RUN_LEARNERS))
    assert got == expected
    assert [r.email_hash for r in got] == [x["email_hash"] for x in run_learners]
    assert sum(isinstance(r, ItemError) for r in got) == 4
    figures.append(
        f"client run across a rollout: {len(got):,} learners in chunks of {CHUNK}, LATEST "
        f"changed after {3 * CHUNK}; {len(_versions(got))} version placed them (the first), "
        "identical to a run without the rollout"
    )


def test_sigterm_mid_run_then_resume_loses_and_repeats_no_learner(
    versions: tuple[Path, Path],
    run_learners: list[dict[str, Any]],
    tmp_path: Path,
    figures: list[str],
) -> None:
    """The service is stopped (SIGTERM) after 1,000 learners; the run stops with its
    checkpoint; resumed from it against the restarted service on the same port, the results
    are those of an uninterrupted run, each learner once."""
    first, _ = versions
    model_dir = _models_with(tmp_path, first)
    with live_service(model_dir, tmp_path / "first.log") as service:
        client = LearnsegClient(service.url, retries=2, backoff=0.05)
        expected = client.segment_batch(run_learners, chunk_size=CHUNK)
        got: list[Any] = []
        with pytest.raises(LearnsegError) as stopped:
            for result in client.segment_stream(iter(run_learners), chunk_size=CHUNK):
                got.append(result)
                if len(got) == 4 * CHUNK:
                    service.process.terminate()  # SIGTERM: uvicorn's graceful shutdown
                    assert service.process.wait(timeout=30) is not None
    checkpoint = stopped.value.checkpoint
    assert stopped.value.status_code is None and "after 3 attempt(s)" in str(stopped.value)
    assert checkpoint == Checkpoint(next_index=4 * CHUNK, version=first.name)
    saved = checkpoint.model_dump_json()  # what a nightly job persists

    command = [sys.executable, "-m", "service", "--model-dir", str(model_dir)]
    command += ["--port", str(service.port)]
    with running_service(command, service_env(), service.port, tmp_path / "second.log"), client:
        resume = Checkpoint.model_validate_json(saved)
        got.extend(
            client.segment_stream(
                iter(run_learners),
                start=resume.next_index,
                version=resume.version,
                chunk_size=CHUNK,
            )
        )
    assert [r.index for r in got] == list(range(RUN_LEARNERS))
    assert got == expected
    figures.append(
        f"client run, SIGTERM after {checkpoint.next_index:,} of {RUN_LEARNERS:,} learners: "
        f"stopped with its checkpoint, resumed on the restarted service: {len(got):,} results, "
        "0 lost, 0 twice, identical to an uninterrupted run"
    )


@contextmanager
def _round_robin(ports: list[int]) -> Iterator[tuple[str, list[int]]]:
    """A TCP load balancer on loopback, as a Kubernetes Service is: each new connection goes
    to the next of `ports` (the first to ports[0]). Yields its URL and the port each
    connection went to."""
    listener = socket.create_server(("127.0.0.1", 0))
    chosen: list[int] = []
    threads: list[threading.Thread] = []
    sockets: list[socket.socket] = []

    def pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65_536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return  # the balancer is closed
            port = ports[len(chosen) % len(ports)]
            chosen.append(port)
            upstream = socket.create_connection(("127.0.0.1", port))
            for pair in ((downstream, upstream), (upstream, downstream)):
                thread = threading.Thread(target=pipe, args=pair, daemon=True)
                thread.start()
                threads.append(thread)
            sockets.extend((downstream, upstream))

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", chosen
    finally:
        listener.close()
        acceptor.join(timeout=5)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        for sock in sockets:
            sock.close()


async def _async_pinned_run(url: str, learners: list[dict[str, Any]], version: str) -> list[Any]:
    async with AsyncLearnsegClient(url, backoff=0.05) as client:
        return [r async for r in client.segment_stream(learners, version=version, chunk_size=CHUNK)]


def test_a_run_pinned_to_the_previous_version_succeeds_across_two_processes(
    versions: tuple[Path, Path],
    run_learners: list[dict[str, Any]],
    tmp_path: Path,
    figures: list[str],
) -> None:
    """Two processes on one models folder behind a load balancer: A followed LATEST from V1 to
    V2 and keeps V1; B (re)started on V2 holding one version. A run pinned to V1 gets a 409
    from B, is sent again on a new connection, lands on A and ends there, every result from
    V1 and identical to A's own; against B alone, V1 is gone everywhere: the run fails with
    VersionNotLoadedError before any result."""
    first, second = versions
    model_dir = _models_with(tmp_path, first)
    learners = run_learners[:1_000]
    with live_service(model_dir, tmp_path / "a.log", env={"LEARNSEG_POLL_SECONDS": "0.1"}) as a:
        _publish(model_dir, second)
        _wait_until_served(a.url, second.name)
        with live_service(model_dir, tmp_path / "b.log", env={"LEARNSEG_KEEP_VERSIONS": "1"}) as b:
            missing = httpx.get(f"{b.url}/v1/model", params={"version": first.name})
            assert missing.status_code == 409
            with LearnsegClient(a.url) as direct:
                expected = direct.segment_batch(learners, version=first.name, chunk_size=CHUNK)
            with _round_robin([b.port, a.port]) as (url, chosen):
                with LearnsegClient(url, backoff=0.05) as client:
                    got = client.segment_batch(learners, version=first.name, chunk_size=CHUNK)
                got_async = asyncio.run(_async_pinned_run(url, learners, first.name))
            with LearnsegClient(b.url, pin_retries=2, backoff=0.01) as alone:
                placed: list[Any] = []
                with pytest.raises(VersionNotLoadedError) as gone:
                    placed.extend(alone.segment_stream(learners, version=first.name))
    # B answered the 409, the new connection reached A; the same for the async client.
    assert chosen == [b.port, a.port, b.port, a.port]
    assert _versions(got) == {first.name} and got == got_async == expected
    assert placed == [] and gone.value.checkpoint == Checkpoint(next_index=0, version=first.name)
    assert f"Model version {first.name} is not loaded" in str(gone.value)
    figures.append(
        f"client run pinned to the previous version behind a balancer of 2 processes: "
        f"{len(got):,} results, sync and async, each run over 2 connections (the 409 of the "
        "restarted one, then the other), all on the pinned version; against the restarted one "
        "alone: "
        "VersionNotLoadedError before any result"
    )


@live
def test_live_learner_ids_come_back_on_every_result(live_url: str) -> None:
    """Each learner's own id is on its result, placed or refused, full or compact (echoed by a
    service that knows learner_id, else kept by the client from the learner it sent)."""
    learners = [{**x, "learner_id": f"u-{i}"} for i, x in enumerate([*LEARNERS, {"ctc": -5}])]
    with LearnsegClient(live_url, api_key="k1") as client:
        full = client.segment_batch(learners)
        compact = client.segment_batch(learners, compact=True)
    ids = [x["learner_id"] for x in learners]
    assert [r.learner_id for r in full] == [r.learner_id for r in compact] == ids
    assert [r.index for r in full] == list(range(len(learners)))


@live
def test_live_compact_runs_answer_the_full_runs_fields(
    live_url: str, run_learners: list[dict[str, Any]]
) -> None:
    with LearnsegClient(live_url, api_key="k1") as client:
        full = client.segment_batch(run_learners[:2_000])
        compact = list(client.segment_stream(run_learners[:2_000], compact=True, chunk_size=300))
    assert len(compact) == len(full) == 2_000
    for small, big in zip(compact, full, strict=True):
        if isinstance(small, ItemError):
            assert small == big
            continue
        assert type(small) is CompactAssignment and isinstance(big, Assignment)
        assert small.model_dump() == big.model_dump(include=set(CompactAssignment.model_fields))


RUNNER = REPO / "bench" / "_client_run.py"


def _client_run(url: str, table: Path, *args: str) -> dict[str, Any]:
    """bench/_client_run.py in a process of its own: the client alone, reading `table` lazily."""
    env = {**service_env(), "PYTHONPATH": str(REPO / "clients" / "python")}
    done = subprocess.run(
        [sys.executable, str(RUNNER), url, str(table), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["heavy_modules"] == []
    return got


@live
def test_a_streamed_run_holds_one_chunk_whatever_its_length(
    live_url: str, small_raw: pd.DataFrame, tmp_path: Path
) -> None:
    """The client's peak memory in its own process: streaming 20,000 learners in chunks of
    1,000 costs about what 2,000 do (one chunk held); holding every result (segment_batch)
    does not. bench/client_memory.py measures 205,843 (docs/benchmarks.md)."""
    table = tmp_path / "learners.csv"
    small_raw.to_csv(table, index=False)
    common = ("--out", str(tmp_path / "results.jsonl"), "--api-key", "k1")
    runs = {
        name: _client_run(live_url, table, *common, *args)
        for name, args in {
            "short": ("--mode", "stream", "--limit", "2000", "--chunk-size", "1000"),
            "long": ("--mode", "stream", "--chunk-size", "1000"),
            "held": ("--mode", "list", "--chunk-size", "1000"),
        }.items()
    }
    assert runs["short"]["learners"] == 2_000 and runs["long"]["learners"] == len(small_raw)
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == len(small_raw)
    grown = runs["long"]["peak_rss_mb"] - runs["short"]["peak_rss_mb"]
    held = runs["held"]["peak_rss_mb"] - runs["short"]["peak_rss_mb"]
    # Measured: 2,000 streamed 56 MB, 20,000 streamed 62 MB, 20,000 held 110 MB.
    assert grown < 12, runs
    assert held > grown + 30, runs
