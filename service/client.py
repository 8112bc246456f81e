"""The clients moved to their own distribution, ``learnseg-client`` (package `learnseg_client`,
in ``clients/python/``): install it with ``pip install ./clients/python`` and import
`learnseg_client` in new code.

This module stays so that ``from service.client import LearnsegClient`` keeps working where the
client is installed: every name is the very object of `learnseg_client` (nothing else of the
service imports it, and the service's own install does not include it).
"""

from __future__ import annotations

try:
    from learnseg_client import (
        RETRYABLE_ERRORS,
        Assignment,
        AsyncLearnsegClient,
        BatchChunk,
        Checkpoint,
        CompactAssignment,
        ConflictError,
        ForbiddenError,
        InvalidRequestError,
        ItemError,
        LearnsegClient,
        LearnsegError,
        Level,
        NotFoundError,
        NotReadyError,
        RunnerUp,
        TooLargeError,
        UnauthorizedError,
        VersionNotLoadedError,
    )
except ModuleNotFoundError as exc:  # pragma: no cover - only without the client installed
    if exc.name != "learnseg_client":
        raise
    raise ImportError(
        "service.client is now the learnseg-client distribution: install it (pip install "
        "./clients/python) and import learnseg_client."
    ) from exc

__all__ = [
    "RETRYABLE_ERRORS",
    "Assignment",
    "AsyncLearnsegClient",
    "BatchChunk",
    "Checkpoint",
    "CompactAssignment",
    "ConflictError",
    "ForbiddenError",
    "InvalidRequestError",
    "ItemError",
    "LearnsegClient",
    "LearnsegError",
    "Level",
    "NotFoundError",
    "NotReadyError",
    "RunnerUp",
    "TooLargeError",
    "UnauthorizedError",
    "VersionNotLoadedError",
]
