"""The model being served, and how it is loaded and swapped.

:class:`ModelHolder` lives on ``app.state.holder``. Its ``current`` attribute is an immutable
:class:`ModelState`: either a verified :class:`Segmenter` or the sentence saying why there is
none. A request reads ``current`` once, at its start (``service.deps.get_segmenter``), and uses
that Segmenter to the end; a reload builds the new state off the event loop and publishes it with
one attribute assignment, so in-flight requests finish on the model they started with and new
ones see the new model. A failed reload publishes nothing: the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from service.metrics import ServiceMetrics
from service.segmenter import Segmenter
from training.runtime.artifacts import ArtifactError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelState:
    """A loaded model, or the reason there is none (one sentence for /health/ready)."""

    segmenter: Segmenter | None
    reason: str = ""

    @property
    def version(self) -> str | None:
        return None if self.segmenter is None else self.segmenter.version


class ReloadError(Exception):
    """A reload that did not happen; the message is one sentence and the old model serves."""


# Placed once right after loading: proves the model can place a learner on both paths, and
# warms their caches so the first real request is not the slow one.
_PROBE = {"ctc": 1_000_000.0, "orgyear": 2016.0, "job_position": "Software Engineer"}


def load_state(
    model_dir: Path, version: str | None = None, drift_window: int | None = None
) -> ModelState:
    """Load and verify a model, and place a probe learner; never raises (keeps the reason).

    With ``drift_window``, the new model counts its placements for drift (a fresh count).
    """
    try:
        segmenter = Segmenter.load(model_dir, version, drift_window=drift_window)
        segmenter.assign(_PROBE)
        segmenter.assign_batch([_PROBE])
        return ModelState(segmenter)
    except ArtifactError as exc:
        return ModelState(None, str(exc))
    except Exception as exc:  # anything else (a bug, an unreadable file): still start
        log.exception("Loading the model from %s failed unexpectedly.", model_dir)
        return ModelState(
            None, f"The model in {model_dir}/ could not be loaded ({type(exc).__name__})."
        )


class ModelHolder:
    """Holds the current :class:`ModelState` of one app."""

    def __init__(
        self, model_dir: Path, metrics: ServiceMetrics, drift_window: int | None = None
    ) -> None:
        self.model_dir = model_dir
        self.metrics = metrics
        self.drift_window = drift_window
        self.current = ModelState(None, "The service is starting: the model is not loaded yet.")
        self._lock = asyncio.Lock()

    def load(self, version: str | None = None) -> ModelState:
        """Load at start-up (blocking); whatever happens, the app starts."""
        state = load_state(self.model_dir, version, self.drift_window)
        self._publish(state)
        if state.segmenter is None:
            log.warning("No model is being served: %s", state.reason)
        else:
            log.info("Serving model %s (k=%d).", state.version, state.segmenter.k)
        return state

    async def reload(self, version: str | None = None) -> tuple[str | None, Segmenter]:
        """Load `version` (LATEST when None) in the threadpool, then swap it in.

        Returns the previous version (None when none was served) and the new Segmenter.
        Raises :class:`ReloadError` when the new model cannot be loaded; the previous one keeps
        serving. Reloads run one at a time.
        """
        async with self._lock:
            previous = self.current
            state = await run_in_threadpool(load_state, self.model_dir, version, self.drift_window)
            segmenter = state.segmenter
            if segmenter is None:
                self.metrics.reloads.labels("failed").inc()
                serving = (
                    f"model {previous.version} keeps serving"
                    if previous.version
                    else "no model is being served"
                )
                log.warning(
                    "Reload failed; %s.",
                    serving,
                    extra={"model_version": previous.version, "reason": state.reason},
                )
                raise ReloadError(f"Reload failed and {serving}: {state.reason}")
            self._publish(state)
            self.metrics.reloads.labels("succeeded").inc()
            log.info(
                "Reloaded: serving model %s.",
                state.version,
                extra={"model_version": state.version, "previous_version": previous.version},
            )
            return previous.version, segmenter

    def _publish(self, state: ModelState) -> None:
        self.current = state  # the swap: one attribute assignment
        self.metrics.set_model(state.version)
