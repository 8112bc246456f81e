"""Graceful shutdown: on SIGTERM the service turns unready at once, finishes what is in flight,
then stops.

Kubernetes (and any load balancer that probes readiness) sends SIGTERM and keeps routing to the
pod until it sees it unready. So the first SIGTERM (or Ctrl-C) does not stop the server: it marks
the service *draining* (``GET /health/ready`` answers 503 with a sentence, while every other
route keeps answering), waits until no request other than a health probe is in flight (at most
``drain_seconds``), and only then lets uvicorn shut down: stop accepting, close idle connections,
run the lifespan's end. A second signal stops at once. :class:`RequestContextMiddleware` counts
the requests in flight in :class:`Drain`.

With ``--workers`` above 1 uvicorn's own supervisor handles the signals of its worker processes,
so this applies to one worker per process (the recommended layout: one per container).
"""

from __future__ import annotations

import logging
import threading
import time
from types import FrameType
from typing import Any

import uvicorn

__all__ = [
    "DRAINING",
    "Drain",
    "DrainingServer",
    "run_draining",
]

log = logging.getLogger(__name__)

DRAINING = "The service is shutting down: it finishes the requests in flight and takes no new work."


class Drain:
    """Whether the service is draining, and how many requests (health probes aside) are in
    flight. Counted on the event loop's thread only; read from the signal's thread."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0

    def wait_idle(self, timeout: float, poll: float = 0.05) -> bool:
        """Block until nothing is in flight (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while self.in_flight > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` whose first exit signal drains (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain.draining:  # the second signal: stop now
            super().handle_exit(sig, frame)
            return
        self.drain.draining = True
        log.info(
            "Draining: readiness answers 503; waiting for %d request(s) in flight (at most %g s).",
            self.drain.in_flight,
            self.drain_seconds,
        )

        def finish() -> None:
            idle = self.drain.wait_idle(self.drain_seconds)
            if not idle:
                log.warning(
                    "%d request(s) still in flight after %g s: shutting down anyway.",
                    self.drain.in_flight,
                    self.drain_seconds,
                )
            super(DrainingServer, self).handle_exit(sig, frame)

        threading.Thread(target=finish, name="learnseg-drain", daemon=True).start()


def run_draining(app: Any, drain: Drain, drain_seconds: float, **config: Any) -> None:
    """``uvicorn.run`` for one worker, with the draining shutdown."""
    server = DrainingServer(uvicorn.Config(app, **config), drain, drain_seconds)
    server.run()
