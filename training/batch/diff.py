"""``python -m training diff``: who moves between two models, and why, placed as a caller sees it.

:func:`diff_table` reads a learner table chunk by chunk (as ``assign`` does: memory bounded by
the chunk), places every row with the old model and with the new one, each end to end with its
own cleaning rules, peer tables and centres (:func:`training.runtime.placement.place`, the code
behind ``POST /segment/batch`` and ``assign``), and writes one row per input row
(:data:`MOVE_COLUMNS`): the segment, track, course and confidence under both models, whether
the learner moved, and for a learner who moved the clustering input whose share of the
distance to its segment changed most (:func:`changed_inputs`), with its value under each model.
A :class:`DiffSummary` counts the moves from x to.

:func:`measure_churn` is the same comparison over columns already in memory: the manifest's
churn figure (``training.run``) is what ``diff`` would measure on the training table.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training.batch.answers import centre_names, count_errors, few_collections, usable_ids
from training.batch.reading import arrow_columns, learner_ids, raw_arrays, read_ahead
from training.batch.writing import OUTPUT_SUFFIXES, OutputError, OutputFile, WriteBehind
from training.batch.writing import output_format as _output_format
from training.data.load import RawChunk, decode_chunk, open_learner_chunks
from training.progress import RowProgress
from training.runtime.kernel import HIGH, LOW, Kernel
from training.runtime.loader import VerifiedModel
from training.runtime.placement import Placement, learner_errors, place
from training.runtime.schema import RAW_FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MOVE_COLUMNS",
    "ChangedInputs",
    "DiffSummary",
    "changed_inputs",
    "diff_table",
    "measure_churn",
    "moved",
    "summary_path",
]

#: The columns of a moves table, in order (``learner_id`` follows ``row`` when the table has
#: one). ``row`` counts from 0, as ``assign`` and the API's batch ``index``.
MOVE_COLUMNS: tuple[str, ...] = (
    "row",
    "email_hash",
    "moved",
    "from_segment_id",
    "to_segment_id",
    "from_segment_name",
    "to_segment_name",
    "from_track",
    "to_track",
    "from_course",
    "to_course",
    "from_confidence",
    "to_confidence",
    "changed_input",
    "changed_input_old",
    "changed_input_new",
    "old_version",
    "new_version",
    "error",
)

#: Rows placed at once by :func:`measure_churn` (bounds its temporaries).
_CHURN_ROWS = 100_000


@dataclass(frozen=True)
class DiffSummary:
    """What a diff run compared, and the moves it counted.

    Attributes
    ----------
    out, summary_json : Path
        The moves table and the summary written.
    old_version, new_version : str
    rows : int
        Rows read (= rows written).
    placed : int
        Rows both models place (the others carry the service's error).
    moves : dict of (int, int) to int
        Placed rows per (old segment id, new segment id), the diagonal included.
    old_names, new_names : dict of int to str
        Segment names under each model.
    changed_inputs : dict of str to int
        Moved rows per input that changed their placement most.
    seconds : float
    """

    out: Path
    summary_json: Path
    old_version: str
    new_version: str
    rows: int
    placed: int
    moves: dict[tuple[int, int], int]
    old_names: dict[int, str]
    new_names: dict[int, str]
    changed_inputs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def moved(self) -> int:
        """Placed rows whose segment id differs between the two models."""
        return sum(n for (a, b), n in self.moves.items() if a != b)

    @property
    def share_moved(self) -> float:
        """``moved / placed`` (0 when nothing was placed)."""
        return self.moved / self.placed if self.placed else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON values (what ``--summary-json`` holds)."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "rows": self.rows,
            "placed": self.placed,
            "errors": self.rows - self.placed,
            "moved": self.moved,
            "share_moved": round(self.share_moved, 6),
            "moves": [
                {
                    "from_segment_id": a,
                    "from_segment_name": self.old_names.get(a),
                    "to_segment_id": b,
                    "to_segment_name": self.new_names.get(b),
                    "learners": n,
                }
                for (a, b), n in sorted(self.moves.items())
            ],
            "changed_inputs": dict(sorted(self.changed_inputs.items(), key=lambda kv: -kv[1])),
            "out": str(self.out),
            "seconds": round(self.seconds, 3),
        }


def summary_path(out: Path) -> Path:
    """Where the summary goes by default: beside ``out``, ``moves.parquet`` ->
    ``moves.summary.json``."""
    name = out.name
    for suffix in sorted(OUTPUT_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return out.with_name(name[: -len(suffix)] + ".summary.json")
    return out.with_name(name + ".summary.json")


def moved(old: Kernel, old_at: Placement, new: Kernel, new_at: Placement) -> npt.NDArray[np.bool_]:
    """Whether each learner's segment id differs between two placements of the same rows.

    Parameters
    ----------
    old, new : Kernel
        The two models.
    old_at, new_at : Placement
        The same n learners placed by each.

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    moves: npt.NDArray[np.bool_] = (
        old.segment_ids[old_at.nearest] != new.segment_ids[new_at.nearest]
    )
    return moves


@dataclass(frozen=True)
class ChangedInputs:
    """Per learner, the clustering input whose distance contribution changed most.

    ``names[index[i]]`` is learner i's input; ``old_value[i]``/``new_value[i]`` its value (the
    model's input, before clipping and scaling) under each model, NaN when a model lacks it.
    """

    names: tuple[str, ...]
    index: npt.NDArray[np.intp]
    old_value: npt.NDArray[np.float64]
    new_value: npt.NDArray[np.float64]


def changed_inputs(old: Kernel, old_at: Placement, new: Kernel, new_at: Placement) -> ChangedInputs:
    """The input that changed each learner's placement most, and its old and new values.

    A learner's squared distance to its segment's centre is a sum over the model's inputs of
    ``(z_j - c_j)^2`` (``z`` clipped and scaled); the input named is the one whose term differs
    most, in absolute value, between its old placement (old model, old segment) and its new one
    (new model, new segment). An input only one model uses counts 0 in the other.

    Parameters
    ----------
    old, new : Kernel
    old_at, new_at : Placement
        The same n learners placed by each model.

    Returns
    -------
    ChangedInputs
    """
    names = tuple(dict.fromkeys((*old.features, *new.features)))
    terms, values = [], []
    for kernel, placed in ((old, old_at), (new, new_at)):
        at = [names.index(f) for f in kernel.features]
        gap = kernel.scaled(placed.features) - kernel.centers[placed.nearest]
        term = np.zeros((len(placed.nearest), len(names)))
        term[:, at] = gap * gap
        value = np.full((len(placed.nearest), len(names)), np.nan)
        value[:, at] = placed.features
        terms.append(term)
        values.append(value)
    index = np.argmax(np.abs(terms[1] - terms[0]), axis=1)
    rows = np.arange(len(index))
    return ChangedInputs(names, index, values[0][rows, index], values[1][rows, index])


def measure_churn(
    previous: VerifiedModel, kernel: Kernel, columns: Mapping[str, npt.NDArray[Any]]
) -> dict[str, Any]:
    """How many rows change segment between a previous model and a new kernel, as ``diff``
    counts them: every row placeable by the service's edge rules placed end to end by each.

    Parameters
    ----------
    previous : VerifiedModel
        The previous model (its own cleaning rules, peer tables and centres).
    kernel : Kernel
        The new model.
    columns : mapping of str to ndarray, each of length n
        ``RAW_FIELDS`` (and ``email_hash``) of the rows, as :func:`raw_arrays` gives them.

    Returns
    -------
    dict
        ``rows``, ``placed``, ``moved`` and ``share_moved``.
    """
    errors = learner_errors(columns)
    keep = np.flatnonzero(np.array([e is None for e in errors], dtype=bool))
    moves = 0
    with few_collections():
        for start in range(0, len(keep), _CHURN_ROWS):
            at = keep[start : start + _CHURN_ROWS]
            subset = {name: columns[name][at] for name in RAW_FIELDS}
            old_at = place(previous.kernel, subset)
            new_at = place(kernel, subset)
            moves += int(np.count_nonzero(moved(previous.kernel, old_at, kernel, new_at)))
    placed = len(keep)
    return {
        "rows": len(errors),
        "placed": placed,
        "moved": moves,
        "share_moved": round(moves / placed, 6) if placed else 0.0,
    }


def diff_table(
    source: str | Path,
    out: Path,
    old: VerifiedModel,
    new: VerifiedModel,
    *,
    summary_json: Path | None = None,
    chunk_rows: int = 100_000,
    cache_dir: Path | None = None,
    progress: RowProgress | None = None,
) -> DiffSummary:
    """Place every row of a table with two models and write who moved, and why, to ``out``.

    Parameters
    ----------
    source : str or Path
        Anything :func:`training.data.load.open_learner_chunks` reads (path or URL, CSV,
        CSV.gz, Parquet); an optional ``learner_id`` column is echoed.
    out : Path
        ``.parquet``/``.pq`` or ``.csv``/``.csv.gz``; replaced only once complete.
    old, new : VerifiedModel
        The two models (:func:`training.runtime.loader.load_model`).
    summary_json : Path, optional
        Where the summary goes (default :func:`summary_path` of ``out``).
    chunk_rows : int, default=100_000
        Rows read and placed at once.
    cache_dir : Path, optional
        Where a downloaded source is kept.
    progress : callable, optional
        Called after every chunk.

    Returns
    -------
    DiffSummary

    Raises
    ------
    training.data.load.DataError
        The source cannot be read (nothing is written).
    OutputError
        ``out`` has another extension, or is the source itself.
    """
    kind = _output_format(out)
    summary_at = summary_json if summary_json is not None else summary_path(out)
    if Path(str(source)).expanduser().resolve() in (out.resolve(), summary_at.resolve()):
        raise OutputError(f"--out {out} is the table being read; write the moves elsewhere.")
    started = time.perf_counter()
    table = open_learner_chunks(source, chunk_rows=chunk_rows, cache_dir=cache_dir)
    output = OutputFile(out, kind, repeated=_REPEATED, filtered=_FILTERED)
    moves: Counter[tuple[int, int]] = Counter()
    inputs: Counter[str] = Counter()
    rows = placed = 0
    try:
        with few_collections(), WriteBehind(output) as writer:
            for chunk, typed in read_ahead(map(_prepared, table.raw)):
                answer = _compare_chunk(old, new, chunk, typed, moves, inputs)
                writer.write(answer)
                rows += answer.num_rows
                placed += answer.num_rows - count_errors(answer)
                if progress is not None:
                    progress("comparing", answer.num_rows, table.rows)
        output.commit()
    except BaseException:
        output.discard()
        raise
    summary = DiffSummary(
        out=out,
        summary_json=summary_at,
        old_version=old.version,
        new_version=new.version,
        rows=rows,
        placed=placed,
        moves=dict(moves),
        old_names=old.names(),
        new_names=new.names(),
        changed_inputs=dict(inputs),
        seconds=time.perf_counter() - started,
    )
    _write_json(summary_at, summary.to_dict())
    return summary


#: Columns whose values repeat (dictionary-encoded in Parquet), and those a reader filters on.
_REPEATED = [
    "from_segment_name",
    "to_segment_name",
    "from_track",
    "to_track",
    "from_course",
    "to_course",
    "from_confidence",
    "to_confidence",
    "changed_input",
    "old_version",
    "new_version",
    "error",
]
_FILTERED = ["row", "moved", "from_segment_id", "to_segment_id"]


def _prepared(chunk: RawChunk) -> tuple[RawChunk, Any]:
    return chunk, arrow_columns(chunk.data)


def _compare_chunk(
    old: VerifiedModel,
    new: VerifiedModel,
    chunk: RawChunk,
    typed: Any,
    moves: Counter[tuple[int, int]],
    inputs: Counter[str],
) -> pa.Table:
    """The moves rows of one raw chunk; ``moves`` and ``inputs`` count what it holds."""
    import pyarrow as pa

    ids = learner_ids(chunk)
    lengths = {} if ids is None else {"learner_id": ids[1]}
    if typed is None:
        columns = raw_arrays(decode_chunk(chunk))
        errors = learner_errors(columns, lengths)
    else:
        columns, email_lengths = typed
        fields = {name: columns[name] for name in RAW_FIELDS}
        errors = learner_errors(fields, {"email_hash": email_lengths, **lengths})
    n = len(errors)
    ok = np.equal(np.array(errors, dtype=object), np.array(None, dtype=object))
    keep = np.flatnonzero(ok)
    subset = {name: columns[name][keep] for name in RAW_FIELDS}
    old_at = place(old.kernel, subset, cohorts=old.cohorts) if len(keep) else None
    new_at = place(new.kernel, subset, cohorts=new.cohorts) if len(keep) else None
    parts: dict[str, pa.Array] = {
        "row": pa.array(np.arange(chunk.first_row, chunk.first_row + n), pa.int64())
    }
    if ids is not None:
        parts["learner_id"] = usable_ids(ids[0])
    parts["email_hash"] = _text(columns["email_hash"])
    parts.update(_side_columns(old, new, old_at, new_at, keep, n, moves, inputs))
    parts["error"] = pa.array(errors, pa.string()) if len(keep) < n else pa.nulls(n, pa.string())
    return pa.table(parts)


def _side_columns(
    old: VerifiedModel,
    new: VerifiedModel,
    old_at: Placement | None,
    new_at: Placement | None,
    keep: npt.NDArray[np.intp],
    n: int,
    moves: Counter[tuple[int, int]],
    inputs: Counter[str],
) -> Iterator[tuple[str, pa.Array]]:
    """(name, column) of everything placed: both sides, the move and its changed input."""
    import pyarrow as pa

    missing = np.ones(n, bool)
    missing[keep] = False
    shift = np.zeros(n, bool)
    if old_at is not None and new_at is not None:
        shift[keep] = moved(old.kernel, old_at, new.kernel, new_at)
        before = old.kernel.segment_ids[old_at.nearest]
        after = new.kernel.segment_ids[new_at.nearest]
        pairs, counts = np.unique(np.stack([before, after]), axis=1, return_counts=True)
        for (a, b), count in zip(pairs.T.tolist(), counts.tolist(), strict=True):
            moves[(int(a), int(b))] += int(count)
    yield "moved", pa.array(shift, pa.bool_(), mask=missing)
    sides = {"from": (old, old_at), "to": (new, new_at)}
    for prefix, (model, placed) in sides.items():
        yield f"{prefix}_segment_id", _spread(placed, keep, n, lambda p, m=model: _ids(m, p))
    for prefix, (model, placed) in sides.items():
        names = centre_names(model)
        yield f"{prefix}_segment_name", _coded(placed, keep, n, "nearest", names)
    for prefix, (_, placed) in sides.items():
        yield f"{prefix}_track", _coded(placed, keep, n, "track", placed.tracks if placed else ())
    for prefix, (model, placed) in sides.items():
        yield f"{prefix}_course", _coded(placed, keep, n, "course", model.cohorts.courses)
    for prefix, (model, placed) in sides.items():
        yield f"{prefix}_confidence", _confidence(model.kernel, placed, keep, n)
    yield from _changed_columns(old, new, old_at, new_at, keep, shift, inputs)
    yield "old_version", _repeat(old.version, missing)
    yield "new_version", _repeat(new.version, missing)


def _changed_columns(
    old: VerifiedModel,
    new: VerifiedModel,
    old_at: Placement | None,
    new_at: Placement | None,
    keep: npt.NDArray[np.intp],
    shift: npt.NDArray[np.bool_],
    inputs: Counter[str],
) -> Iterator[tuple[str, pa.Array]]:
    """``changed_input`` and its old and new values, for the rows that moved (else null)."""
    import pyarrow as pa

    n = len(shift)
    code = np.zeros(n, np.int32)
    before = np.full(n, np.nan)
    after = np.full(n, np.nan)
    names: tuple[str, ...] = ()
    if old_at is not None and new_at is not None:
        found = changed_inputs(old.kernel, old_at, new.kernel, new_at)
        names = found.names
        code[keep] = found.index
        before[keep] = found.old_value
        after[keep] = found.new_value
        for i, count in zip(*np.unique(code[shift], return_counts=True), strict=True):
            inputs[names[int(i)]] += int(count)
    still = ~shift
    indices = pa.array(code, pa.int32(), mask=still)
    words = pa.array(list(names) or [""], pa.string())
    yield "changed_input", pa.DictionaryArray.from_arrays(indices, words).cast(pa.string())
    yield "changed_input_old", pa.array(before, pa.float64(), mask=still | np.isnan(before))
    yield "changed_input_new", pa.array(after, pa.float64(), mask=still | np.isnan(after))


def _ids(model: VerifiedModel, placed: Placement) -> npt.NDArray[np.int64]:
    ids: npt.NDArray[np.int64] = model.kernel.segment_ids[placed.nearest].astype(np.int64)
    return ids


def _spread(placed: Placement | None, keep: Any, n: int, values: Any) -> pa.Array:
    """An int64 column of n rows: ``values(placed)`` at ``keep``, null elsewhere."""
    import pyarrow as pa

    out = np.zeros(n, np.int64)
    missing = np.ones(n, bool)
    if placed is not None:
        out[keep] = values(placed)
        missing[keep] = False
    return pa.array(out, pa.int64(), mask=missing)


def _coded(placed: Placement | None, keep: Any, n: int, attribute: str, words: Any) -> pa.Array:
    """A text column of n rows from a placement's codes (``nearest``, ``track``, ``course``)."""
    import pyarrow as pa

    codes = np.zeros(n, np.int32)
    missing = np.ones(n, bool)
    got = None if placed is None else getattr(placed, attribute)
    if got is not None:
        codes[keep] = got
        missing[keep] = False
    words = list(words) or [""]
    indices = pa.array(codes, pa.int32(), mask=missing)
    return pa.DictionaryArray.from_arrays(indices, pa.array(words, pa.string())).cast(pa.string())


def _confidence(kernel: Kernel, placed: Placement | None, keep: Any, n: int) -> pa.Array:
    high = np.ones(n, bool)
    missing = np.ones(n, bool)
    if placed is not None:
        missing[keep] = False
        if placed.relative_margin is not None:
            high[keep] = kernel.confidence(placed.relative_margin) == HIGH
    return _coded_bool(high, missing, [LOW, HIGH])


def _coded_bool(values: Any, missing: Any, words: list[str]) -> pa.Array:
    import pyarrow as pa

    indices = pa.array(np.asarray(values).astype(np.int32), pa.int32(), mask=missing)
    return pa.DictionaryArray.from_arrays(indices, pa.array(words)).cast(pa.string())


def _repeat(value: str, missing: Any) -> pa.Array:
    return _coded_bool(np.zeros(len(missing)), missing, [value])


def _text(values: Any) -> pa.Array:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array(values, pa.string())


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write JSON beside its final name, then rename: a reader never sees half a summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        temp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
