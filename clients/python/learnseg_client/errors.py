"""The errors of the client: one class per status, all `LearnsegError`.

Each carries the status code (None when no answer came), the server's ``detail`` (a sentence, or
FastAPI's list of field errors for a 422), the call's ``request_id`` and, for an error that
stopped a batch run, the run's `Checkpoint`: resume from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from learnseg_client.schemas import Checkpoint

__all__ = [
    "ConflictError",
    "ForbiddenError",
    "InvalidRequestError",
    "LearnsegError",
    "NotFoundError",
    "NotReadyError",
    "TooLargeError",
    "UnauthorizedError",
    "VersionNotLoadedError",
]


class LearnsegError(Exception):
    """The service answered with an error, or could not be reached.

    Attributes
    ----------
    status_code : int or None
        The HTTP status, or None when no answer was received (after the retries).
    detail : str or list
        The server's ``detail``: one sentence, or FastAPI's list of field errors for a 422.
    request_id : str or None
        The ``X-Request-ID`` of the failed call (the service's echo, else the one sent).
    checkpoint : Checkpoint or None
        For an error that stopped a batch run (`LearnsegClient.segment_stream` and the other
        run methods): where the run stands. Every learner before ``checkpoint.next_index`` has
        its result (yielded before this error); resume with ``start=checkpoint.next_index,
        version=checkpoint.version``. None for any other call.
    """

    def __init__(
        self,
        status_code: int | None,
        detail: str | list[Any],
        request_id: str | None = None,
        *,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id
        self.checkpoint = checkpoint
        text = _detail_text(detail)
        where = f" (request {request_id})" if request_id else ""
        super().__init__(
            f"{text}{where}" if status_code is None else f"{status_code}: {text}{where}"
        )


class UnauthorizedError(LearnsegError):
    """401: no key, or a key the service does not know."""


class ForbiddenError(LearnsegError):
    """403: the key may not do this (reloading needs an admin key), or reloading is off."""


class NotFoundError(LearnsegError):
    """404: no such segment (the detail lists the valid ids) or route."""


class ConflictError(LearnsegError):
    """409: a reload failed (the old model keeps serving), or a version is not loaded."""


class VersionNotLoadedError(ConflictError):
    """409 to a pinned call: the service does not hold that version (the detail lists the
    loaded ones)."""


class TooLargeError(LearnsegError):
    """413: the body or the batch is over the service's limit."""


class InvalidRequestError(LearnsegError):
    """400 or 422: the request is malformed; ``fields`` names what was wrong (may be empty)."""

    @property
    def fields(self) -> list[str]:
        """Dotted locations of the invalid fields (``learners.3.ctc``), for a 422."""
        if not isinstance(self.detail, list):
            return []
        return [
            ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            for item in self.detail
            if isinstance(item, Mapping)
        ]


class NotReadyError(LearnsegError):
    """503: no verified model is loaded yet (after the retries); the detail says why."""


def _detail_text(detail: str | list[Any]) -> str:
    """One line from a detail: the sentence itself, or 'field: message; ...' for a 422 list."""
    if isinstance(detail, str):
        return detail
    parts = []
    for item in detail:
        if isinstance(item, Mapping):
            loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            msg = str(item.get("msg", item))
            parts.append(f"{loc}: {msg}" if loc else msg)
        else:
            parts.append(str(item))
    return "; ".join(parts)
