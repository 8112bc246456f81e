"""The models being served, and how they are loaded, kept and swapped.

:class:`ModelHolder` lives on ``app.state.holder``. Its ``current`` attribute is an immutable
:class:`ModelState`: either a verified :class:`Segmenter` (the one unpinned requests get) or the
sentence saying why there is none. A request reads its model once, at its start
(``service.deps.current_segmenter``), and uses it to the end; a reload builds the new state off
the event loop and publishes it with one attribute assignment, so in-flight requests finish on
the model they started with and new ones see the new model. A failed reload publishes nothing:
the old model keeps serving.

**Pinned versions.** The holder keeps the last ``keep_versions`` verified models loaded
(:attr:`ModelHolder.loaded`, the current one included): a request that names one of them with
``?version=`` is answered by it, so a nightly run started on version V ends on V even when a
reload happens in between. At start (:meth:`ModelHolder.load`) a process loads the version it
serves, then the newest other versions in the models folder until it holds ``keep_versions``
(a version that fails verification is skipped, with a warning, and the next older one tried):
a replica that has just started or restarted answers a pin to any of the last versions still
on disk, as the replicas that were running when they were published do.

**One model across workers.** :meth:`ModelHolder.follow` runs in the lifespan and, every
``poll_seconds``, looks at two small files: ``models/LATEST`` (when ``follow_latest``: a new
version named there is loaded, verified, then served) and the *reload signal*
(``reload_signal``, a file ``python -m service --workers N`` gives every worker): the worker
that answers ``POST /admin/reload`` writes the version it switched to there, and every other
worker of the process follows within one polling interval. Each acts on a change of a file,
not on a difference: a worker that was told to serve an older version does not drift back to
LATEST until LATEST changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from starlette.concurrency import run_in_threadpool

from service.metrics import ServiceMetrics
from service.segmenter import Segmenter
from training.runtime.artifacts import (
    LATEST_FILE,
    ArtifactError,
    list_versions,
    read_latest_name,
)

__all__ = [
    "ModelHolder",
    "ModelState",
    "ReloadError",
    "ReloadSignal",
    "VersionNotLoadedError",
    "load_state",
    "read_signal",
    "write_signal",
]

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


class VersionNotLoadedError(Exception):
    """A pinned version this process does not hold; the message lists the ones it does."""


# Placed (and explained) once right after loading: proves the model can place a learner on both
# paths and explain one, and warms their caches so the first real request is not the slow one.
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
        segmenter.explain(_PROBE)
        return ModelState(segmenter)
    except ArtifactError as exc:
        log.warning("No model loaded from %s: %s", model_dir, exc)
        return ModelState(None, _public(str(exc), model_dir))
    except Exception as exc:  # anything else (a bug, an unreadable file): still start
        log.exception("Loading the model from %s failed unexpectedly.", model_dir)
        return ModelState(
            None, f"The model in {model_dir.name}/ could not be loaded ({type(exc).__name__})."
        )


def _public(reason: str, model_dir: Path) -> str:
    """The reason as callers see it: the models folder by its name, never the server's path
    (the log has the path)."""
    for form in {str(model_dir.resolve()), str(model_dir)}:
        reason = reason.replace(form, model_dir.name)
    return reason


@dataclass(frozen=True)
class ReloadSignal:
    """What the reload signal file says: which version to serve (None: LATEST), and a token
    that changes at every reload, so a worker acts on each once."""

    token: str
    version: str | None


def read_signal(path: Path | None) -> ReloadSignal | None:
    """The reload signal in `path`, or None when there is none (or it cannot be read)."""
    if path is None:
        return None
    try:
        data = orjson.loads(path.read_bytes())
        token, version = data["token"], data["version"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(token, str) or not (version is None or isinstance(version, str)):
        return None
    return ReloadSignal(token, version)


def write_signal(path: Path, version: str | None) -> ReloadSignal:
    """Tell every worker to serve `version` (None: what LATEST names): written whole, then
    renamed over the previous signal, so a reader never sees half of it."""
    signal = ReloadSignal(uuid.uuid4().hex, version)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(orjson.dumps({"token": signal.token, "version": signal.version}))
    os.replace(partial, path)
    return signal


class ModelHolder:
    """Holds the current :class:`ModelState` of one app, and the other versions kept loaded."""

    def __init__(
        self,
        model_dir: Path,
        metrics: ServiceMetrics,
        drift_window: int | None = None,
        *,
        keep_versions: int = 2,
        follow_latest: bool = False,
        reload_signal: Path | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.metrics = metrics
        self.drift_window = drift_window
        self.keep_versions = keep_versions
        self.follow_latest = follow_latest
        self.reload_signal = reload_signal
        self.current = ModelState(None, "The service is starting: the model is not loaded yet.")
        #: Verified models by version, oldest first; the current one is among them.
        self.loaded: dict[str, Segmenter] = {}
        self._lock = asyncio.Lock()
        self._seen_latest: str | None = None
        self._seen_signal: str | None = None

    # --------------------------------------------------------------------------------- reading
    def pinned(self, version: str) -> Segmenter:
        """The loaded model of `version`; raises :class:`VersionNotLoadedError` (with the versions
        held) when this process does not hold it."""
        segmenter = self.loaded.get(version)
        if segmenter is None:
            raise VersionNotLoadedError(self._not_loaded(version))
        return segmenter

    @property
    def versions(self) -> list[str]:
        """The versions held, the served one first, then the others newest first."""
        serving = self.current.version
        others = [v for v in reversed(self.loaded) if v != serving]
        return [serving, *others] if serving is not None else others

    def _not_loaded(self, version: str) -> str:
        held = self.versions
        if not held:
            return f"Model version {version} is not loaded: no model is."
        listed = ", ".join(held)
        return (
            f"Model version {version} is not loaded; the loaded versions are {listed} (the "
            f"first is served when no version is given)."
        )

    # ------------------------------------------------------------------------------ switching
    def load(self, version: str | None = None) -> ModelState:
        """Load at start-up (blocking); whatever happens, the app starts.

        A reload signal left by another worker wins over `version` and LATEST: a worker that
        starts (or restarts) serves what the others serve.
        """
        self._seen_latest = read_latest_name(self.model_dir)
        signal = read_signal(self.reload_signal)
        if signal is not None:
            self._seen_signal = signal.token
            version = signal.version if signal.version is not None else version
        state = load_state(self.model_dir, version, self.drift_window)
        if state.segmenter is not None:
            for other in self._load_others(state.segmenter.version):
                self.loaded[other.version] = other  # oldest first; the served one comes last
        self._publish(state)
        if state.segmenter is None:
            log.warning("No model is being served: %s", state.reason)
        else:
            log.info(
                "Serving model %s (k=%d); versions held: %s.",
                state.version,
                state.segmenter.k,
                ", ".join(self.versions),
            )
        return state

    def _load_others(self, serving: str) -> list[Segmenter]:
        """The newest verified versions on disk besides `serving`, up to ``keep_versions`` in
        all, oldest first; a version that fails to load is logged and skipped."""
        wanted = self.keep_versions - 1
        others: list[Segmenter] = []
        for version in reversed(list_versions(self.model_dir)):  # newest first
            if len(others) >= wanted:
                break
            if version == serving:
                continue
            state = load_state(self.model_dir, version, self.drift_window)
            if state.segmenter is None:
                log.warning(
                    "Model version %s is not held: %s",
                    version,
                    state.reason,
                    extra={"model_version": version, "reason": state.reason},
                )
                continue
            others.append(state.segmenter)
        return others[::-1]

    async def reload(
        self, version: str | None = None, *, announce: bool = False
    ) -> tuple[str | None, Segmenter]:
        """Load `version` (LATEST when None) in the threadpool, then swap it in.

        Returns the previous version (None when none was served) and the new Segmenter.
        Raises :class:`ReloadError` when the new model cannot be loaded; the previous one keeps
        serving. Reloads run one at a time. With `announce` (a reload asked over HTTP), the
        other workers are told through the reload signal.
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
            if announce and self.reload_signal is not None:
                self._seen_signal = write_signal(self.reload_signal, segmenter.version).token
            self.metrics.reloads.labels("succeeded").inc()
            log.info(
                "Reloaded: serving model %s.",
                state.version,
                extra={"model_version": state.version, "previous_version": previous.version},
            )
            return previous.version, segmenter

    async def follow(self, poll_seconds: float) -> None:
        """Every `poll_seconds`, act on a new reload signal or a new LATEST (runs until
        cancelled, in the lifespan)."""
        while True:
            await asyncio.sleep(poll_seconds)
            try:
                await self.check_once()
            except Exception:  # a bug must not stop the following for good
                log.exception("Checking for a new model failed; trying again later.")

    async def check_once(self) -> str | None:
        """Switch to what a changed reload signal or a changed LATEST names; returns the
        version switched to, or None. A failed switch is logged and the current model stays."""
        signal = read_signal(self.reload_signal)
        if signal is not None and signal.token != self._seen_signal:
            self._seen_signal = signal.token
            self._seen_latest = read_latest_name(self.model_dir)
            return await self._switch(signal.version, "another worker reloaded")
        if not self.follow_latest:
            return None
        latest = read_latest_name(self.model_dir)
        if latest is None or latest == self._seen_latest:
            return None
        self._seen_latest = latest
        if latest == self.current.version:
            return None
        return await self._switch(latest, f"{LATEST_FILE} names it")

    async def _switch(self, version: str | None, why: str) -> str | None:
        if version is not None and version == self.current.version:
            return None
        log.info("Switching to model %s: %s.", version or LATEST_FILE, why)
        try:
            _, segmenter = await self.reload(version)
        except ReloadError:
            return None  # logged by reload; the current model keeps serving
        return segmenter.version

    def _publish(self, state: ModelState) -> None:
        segmenter = state.segmenter
        if segmenter is not None:
            self.loaded.pop(segmenter.version, None)
            self.loaded[segmenter.version] = segmenter
            while len(self.loaded) > self.keep_versions:  # the oldest goes; never the new one
                del self.loaded[next(iter(self.loaded))]
        self.current = state  # the swap: one attribute assignment
        self.metrics.set_model(state.version)
