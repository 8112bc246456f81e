"""A batch run without the I/O: its chunks, its pinned version, its answers read, where it stands.

The sync and async clients drive a `RunState` the same way: for each chunk of learners
(:func:`chunks` or :func:`achunks`, which never hold more than one chunk), send it (:func:`encode`)
with `RunState.params` and `RunState.version`, then `RunState.accept` the answer, which checks
it, pins the run to the version that answered (when the run was not pinned yet) and returns the
chunk's `BatchChunk`; an error gets the run's checkpoint from `RunState.stopped`.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from itertools import islice
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, Discriminator, Tag, TypeAdapter, ValidationError

from learnseg_client._http import error_from, first_error, unexpected
from learnseg_client.errors import LearnsegError
from learnseg_client.schemas import (
    SENT,
    Assignment,
    BatchChunk,
    Checkpoint,
    CompactAssignment,
    ItemError,
)

__all__ = ["RunState", "achunks", "chunks", "encode", "validation_context"]

_END: Any = object()


def _kind(item: Any) -> str:
    return "error" if isinstance(item, Mapping) and "error" in item else "placed"


class _Full(BaseModel):
    results: list[
        Annotated[
            Annotated[Assignment, Tag("placed")] | Annotated[ItemError, Tag("error")],
            Discriminator(_kind),
        ]
    ]


class _Compact(BaseModel):
    results: list[
        Annotated[
            Annotated[CompactAssignment, Tag("placed")] | Annotated[ItemError, Tag("error")],
            Discriminator(_kind),
        ]
    ]


_FULL = TypeAdapter(_Full)
_COMPACT = TypeAdapter(_Compact)

_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def encode(body: Mapping[str, Any], first: int = 0) -> bytes:
    """`body` as JSON bytes, NaN and infinities as null (a value that is missing);
    `TypeError` naming the learner range when a value is not JSON."""
    try:
        return _ANY.dump_json(body)
    except ValueError as exc:
        raise TypeError(
            f"A learner from position {first} on cannot be sent as JSON ({exc}); give plain "
            "str, int, float, bool or None values."
        ) from exc


def chunks(
    learners: Iterable[Mapping[str, Any]], start: int, size: Callable[[], int]
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(position of the first, learners) of each chunk after the first `start` learners.

    `size` is called once, when there is a first learner to send (a run of no learners asks
    the service nothing).
    """
    rest = islice(learners, start, None)
    first = next(rest, _END)
    if first is _END:
        return
    offset, limit = start, size()
    chunk = [dict(first), *(dict(learner) for learner in islice(rest, limit - 1))]
    while chunk:
        yield offset, chunk
        offset += len(chunk)
        chunk = []  # released before the next is read
        chunk = [dict(learner) for learner in islice(rest, limit)]


async def achunks(
    learners: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
    start: int,
    size: Callable[[], Awaitable[int]],
) -> AsyncIterator[tuple[int, list[dict[str, Any]]]]:
    """:func:`chunks` of a sync or an async iterable, with an async `size`."""
    offset, seen, limit = start, 0, 0
    chunk: list[dict[str, Any]] = []
    async for learner in _aiter(learners):
        seen += 1
        if seen <= start:
            continue
        if not limit:
            limit = await size()
        chunk.append(dict(learner))
        if len(chunk) == limit:
            yield offset, chunk
            offset, chunk = offset + limit, []
    if chunk:
        yield offset, chunk


async def _aiter(
    learners: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
) -> AsyncIterator[Mapping[str, Any]]:
    if isinstance(learners, AsyncIterable):
        async for learner in learners:
            yield learner
    else:
        for learner in learners:
            yield learner


class RunState:
    """One batch run: its pinned version, compactness and how far it got.

    Parameters
    ----------
    start : int
        Learners already done (skipped); results are numbered from here.
    version : str or None
        The version to pin; None = the version that answers the run's first chunk.
    compact : bool
        Ask for compact answers.
    """

    def __init__(self, *, start: int, version: str | None, compact: bool) -> None:
        if start < 0:
            raise ValueError("start must be 0 or more.")
        self.version = version
        self.compact = compact
        self.next_index = start

    @property
    def checkpoint(self) -> Checkpoint:
        """Where the run stands: every learner before ``next_index`` has its result."""
        return Checkpoint(next_index=self.next_index, version=self.version)

    def params(self) -> dict[str, str]:
        """The query of a chunk's request (``version`` is added by the client's call)."""
        return {"compact": "true"} if self.compact else {}

    def stopped(self, exc: LearnsegError) -> LearnsegError:
        """`exc`, carrying where the run stands (raise it)."""
        exc.checkpoint = self.checkpoint
        return exc

    def accept(
        self, offset: int, sent: list[dict[str, Any]], response: httpx.Response
    ) -> BatchChunk:
        """The chunk's results from its answer; the run pinned to the version that answered.

        `LearnsegError` (with the checkpoint) for an error answer, an answer of the wrong shape
        or length, or one placed by another version than the run's.
        """
        if not response.is_success:
            raise self.stopped(error_from(response))
        results = self._results(offset, sent, response)
        answered = {r.model_version for r in results if not isinstance(r, ItemError)}
        header = response.headers.get("X-Model-Version")
        if header is not None:
            answered.add(header)
        if self.version is not None:
            answered.discard(self.version)
        if len(answered) > 1 or (answered and self.version is not None):
            raise self.stopped(
                unexpected(
                    response,
                    f"learners placed by {', '.join(sorted(answered))} in a run pinned to "
                    f"{self.version or 'one version'}",
                )
            )
        if self.version is None and answered:
            self.version = answered.pop()
        self.next_index = offset + len(results)
        return BatchChunk(start=offset, version=self.version, results=results)

    def _results(
        self, offset: int, sent: list[dict[str, Any]], response: httpx.Response
    ) -> list[Assignment | ItemError] | list[CompactAssignment | ItemError]:
        """The answer's results, validated straight from its bytes (the parser shares equal
        strings), numbered from `offset`, with the ids of the learners `sent`."""
        adapter = _COMPACT if self.compact else _FULL
        try:
            results = adapter.validate_json(
                response.content, context=validation_context(offset, sent)
            ).results
        except ValidationError as exc:
            raise self.stopped(unexpected(response, first_error(exc))) from exc
        if len(results) != len(sent):
            why = f"{len(sent)} learners sent, {len(results)} results answered"
            raise self.stopped(unexpected(response, why))
        for position, result in enumerate(results, start=offset):
            if result.index != position:
                why = f"result {result.index} answered where learner {position} was expected"
                raise self.stopped(unexpected(response, why))
        return results


def validation_context(offset: int, sent: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The context that validates an answer to `sent` (numbered from `offset`)."""
    return {SENT: (offset, sent)}
