"""Graceful shutdown: on SIGTERM every worker turns unready at once, finishes what is in flight,
then stops.

Kubernetes (and any load balancer that probes readiness) sends SIGTERM and keeps routing to the
pod until it sees it unready. So the first SIGTERM (or Ctrl-C) does not stop a worker: it marks
it *draining* (``GET /health/ready`` answers 503 with a sentence, while every other route keeps
answering), waits until no request other than a health probe is in flight (at most
``drain_seconds``), and only then hands the signal to uvicorn's own handler, which shuts down:
stop accepting, close idle connections, run the lifespan's end, re-raise the signal. A second
signal goes to uvicorn's handler at once (stop now). :class:`RequestContextMiddleware` counts
the requests in flight in :class:`Drain`.

The hand-over happens inside each worker, so it is the same for one worker and for several:
uvicorn installs its SIGTERM and SIGINT handlers before the app's lifespan starts, and the
lifespan (:func:`drain_on_signals`) wraps them. With ``--workers N`` uvicorn's supervisor
passes a SIGTERM on to every worker at once, so every worker turns unready at the first
SIGTERM, each finishing its own requests; the supervisor waits for them all.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = [
    "DRAINING",
    "Drain",
    "drain_on_signals",
]

log = logging.getLogger(__name__)

DRAINING = "The service is shutting down: it finishes the requests in flight and takes no new work."
#: The signals a server stops on, and the ones that drain first.
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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


def drain_on_signals(drain: Drain, drain_seconds: float) -> Callable[[], None]:
    """Make the first SIGTERM or SIGINT drain before the server's own handler sees it.

    Called in the lifespan, on the main thread, after the server installed its handlers (as
    uvicorn does). Returns a function that puts the server's handlers back. Does nothing (and
    returns a no-op) off the main thread (a test client) or when the handlers in place are not
    a server's (Python's defaults): then there is nothing to hand the signal on to.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    if not all(_is_server_handler(handler) for handler in previous.values()):
        return lambda: None

    def on_signal(sig: int, frame: FrameType | None) -> None:
        stop: Any = previous[signal.Signals(sig)]
        if drain.draining:  # the second signal: stop now
            stop(sig, frame)
            return
        drain.draining = True
        log.info(
            "Draining: readiness answers 503; waiting for %d request(s) in flight (at most %g s).",
            drain.in_flight,
            drain_seconds,
        )

        def finish() -> None:
            if not drain.wait_idle(drain_seconds):
                log.warning(
                    "%d request(s) still in flight after %g s: shutting down anyway.",
                    drain.in_flight,
                    drain_seconds,
                )
            stop(sig, frame)

        threading.Thread(target=finish, name="learnseg-drain", daemon=True).start()

    for sig in _SIGNALS:
        signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def _is_server_handler(handler: Any) -> bool:
    """A handler a server installed (a Python callable other than Python's own defaults)."""
    return callable(handler) and handler is not signal.default_int_handler
