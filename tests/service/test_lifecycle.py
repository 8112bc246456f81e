"""Graceful shutdown (service.lifecycle): the drain flag turns readiness 503 and nothing else;
requests in flight are counted, health probes are not; waiting for idle has a deadline; the first
signal drains before the server's own handler sees it, the second goes straight to it. The live
SIGTERM drills (one worker, two workers) are in tests/service/test_cli.py."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from service.lifecycle import DRAINING, Drain, drain_on_signals
from service.main import create_app
from tests.helpers import LEARNERS, TestClient, service_settings


def test_draining_turns_readiness_503_and_keeps_serving(service_model_dir: Path) -> None:
    app = create_app(service_settings(service_model_dir))
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200
        app.state.drain.draining = True
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json() == {"detail": DRAINING}
        assert ready.headers["Retry-After"] == "2"
        assert client.get("/health/live").status_code == 200
        assert client.post("/segment", json=LEARNERS[0]).status_code == 200  # still served
        assert app.state.drain.in_flight == 0


def test_requests_are_counted_in_flight_but_probes_are_not(service_model_dir: Path) -> None:
    app = create_app(service_settings(service_model_dir))
    seen: list[int] = []
    drain: Drain = app.state.drain
    with TestClient(app) as client:
        original = app.state.holder.current.segmenter.assign

        def spy(learner: dict[str, object]) -> object:
            seen.append(drain.in_flight)
            return original(learner)

        app.state.holder.current.segmenter.assign = spy
        client.post("/segment", json=LEARNERS[0])
        client.get("/health/ready")
    assert seen == [1] and drain.in_flight == 0


def test_waiting_for_idle_has_a_deadline() -> None:
    drain = Drain()
    assert drain.wait_idle(0.0)
    drain.in_flight = 1
    start = time.monotonic()
    assert not drain.wait_idle(0.2, poll=0.01)
    assert 0.2 <= time.monotonic() - start < 2
    threading.Timer(0.1, lambda: setattr(drain, "in_flight", 0)).start()
    assert drain.wait_idle(5.0, poll=0.01)


@pytest.fixture
def server_handlers() -> Iterator[list[int]]:
    """A server's SIGTERM and SIGINT handlers (they record the signals they get), put back
    afterwards as they were."""
    received: list[int] = []
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def server_handler(sig: int, frame: FrameType | None) -> None:
        received.append(sig)

    for sig in before:
        signal.signal(sig, server_handler)
    try:
        yield received
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_first_signal_drains_then_reaches_the_server(server_handlers: list[int]) -> None:
    drain = Drain()
    drain.in_flight = 1
    restore = drain_on_signals(drain, drain_seconds=30)
    signal.raise_signal(signal.SIGTERM)
    assert drain.draining and server_handlers == []  # unready, the server not told yet
    time.sleep(0.2)
    assert server_handlers == []  # still a request in flight
    drain.in_flight = 0
    _until(lambda: server_handlers == [signal.SIGTERM])
    signal.raise_signal(signal.SIGINT)  # a second signal: straight to the server
    assert server_handlers == [signal.SIGTERM, signal.SIGINT]
    restore()
    signal.raise_signal(signal.SIGTERM)  # the server's own handler is back
    assert server_handlers[-1] == signal.SIGTERM and len(server_handlers) == 3


def test_draining_has_a_deadline(server_handlers: list[int]) -> None:
    drain = Drain()
    drain.in_flight = 1
    restore = drain_on_signals(drain, drain_seconds=0.2)
    signal.raise_signal(signal.SIGTERM)
    _until(lambda: server_handlers == [signal.SIGTERM])  # in flight, but out of time
    assert drain.in_flight == 1
    restore()


def test_without_a_server_s_handlers_nothing_is_wrapped() -> None:
    """Python's own handlers (no server) and threads other than the main one are left alone."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        drain_on_signals(Drain(), 1.0)()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        done: list[object] = []
        thread = threading.Thread(target=lambda: done.append(drain_on_signals(Drain(), 1.0)))
        thread.start()
        thread.join()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and done
    finally:
        signal.signal(signal.SIGINT, before)
