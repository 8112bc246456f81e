"""Graceful shutdown (service.lifecycle): the drain flag turns readiness 503 and nothing else;
requests in flight are counted, health probes are not; waiting for idle has a deadline. The live
SIGTERM drill is in tests/service/test_cli.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from service.lifecycle import DRAINING, Drain
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
