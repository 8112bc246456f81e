"""Writing an assignment table: its formats, all or nothing, and writing behind.

* :func:`output_format` names the format by the file name (:data:`OUTPUT_SUFFIXES`: Parquet,
  CSV or gzipped CSV); :class:`OutputError` is a name or place that cannot be written.
* :class:`OutputFile` appends answer tables to a hidden temporary file beside ``out`` and
  renames it over ``out`` once complete: an interrupted run leaves no output that looks
  complete, and an older output stays as it was.
* :class:`WriteBehind` writes in a background thread while the next chunk is placed.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["OUTPUT_SUFFIXES", "OutputError", "OutputFile", "WriteBehind", "output_format"]

#: Output formats by file name.
OUTPUT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv.gz"}
#: Output columns whose values repeat (dictionary-encoded in Parquet), and those a reader filters
#: on (with statistics).
_REPEATED = [
    "segment_name",
    "track",
    "course",
    "course_name",
    "confidence",
    "warnings",
    "model_version",
    "error",
]
_FILTERED = ["row", "segment_id", "coarse_segment_id"]


class OutputError(ValueError):
    """An output that cannot be written as asked; the message is one sentence."""


def output_format(out: Path) -> str:
    """The format of an output file, by its name.

    Parameters
    ----------
    out : Path
        The file to write.

    Returns
    -------
    str
        ``"parquet"``, ``"csv"`` or ``"csv.gz"`` (see :data:`OUTPUT_SUFFIXES`).

    Raises
    ------
    OutputError
        Another name.
    """
    name = out.name.lower()
    for suffix in sorted(OUTPUT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return OUTPUT_SUFFIXES[suffix]
    raise OutputError(f"Cannot write '{out}': name it .parquet, .pq, .csv or .csv.gz.")


class OutputFile:
    """Tables appended to a hidden temporary file beside ``out``, renamed over it at the end.

    Parameters
    ----------
    out : Path
        The file to write once complete (its folder is created).
    kind : str
        Its :func:`output_format`.
    repeated, filtered : list of str, optional
        Parquet columns written through a dictionary, and with statistics (by default those
        of an assignment table).

    Attributes
    ----------
    temp : Path
        The hidden temporary file (created by the first :meth:`write`).
    """

    def __init__(
        self,
        out: Path,
        kind: str,
        *,
        repeated: list[str] | None = None,
        filtered: list[str] | None = None,
    ) -> None:
        self.out = out
        self.kind = kind
        self._repeated = _REPEATED if repeated is None else repeated
        self._filtered = _FILTERED if filtered is None else filtered
        out.parent.mkdir(parents=True, exist_ok=True)
        # Created by the first write (with the usual permissions), hidden, beside `out`: the
        # rename at the end stays on one file system.
        self.temp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
        self._writer: Any = None
        self._stream: Any = None

    def write(self, table: pa.Table) -> None:
        """Append the rows of ``table`` (the first call fixes the schema)."""
        if self.kind != "parquet":
            table = _csv_ready(table)
        if self._writer is None:
            self._writer = self._open(table.schema)
        self._writer.write_table(table)

    def commit(self) -> None:
        """Close the temporary file and rename it over ``out``."""
        self._close()
        os.replace(self.temp, self.out)

    def discard(self) -> None:
        """Close and remove the temporary file; ``out`` stays as it was."""
        try:
            self._close()
        finally:
            self.temp.unlink(missing_ok=True)

    def _open(self, schema: pa.Schema) -> Any:
        import pyarrow as pa

        if self.kind == "parquet":
            import pyarrow.parquet as pq

            # Dictionaries only where values repeat (not the ids), statistics only where a
            # reader filters (rows, segments): together a third of the writing time.
            return pq.ParquetWriter(
                self.temp,
                schema,
                use_dictionary=self._repeated,
                write_statistics=self._filtered,
            )
        import pyarrow.csv as pacsv

        sink: Any = str(self.temp)
        if self.kind == "csv.gz":
            self._stream = pa.CompressedOutputStream(str(self.temp), "gzip")
            sink = self._stream
        return pacsv.CSVWriter(sink, schema)

    def _close(self) -> None:
        writer, stream = self._writer, self._stream
        self._writer = self._stream = None
        if writer is not None:
            writer.close()
        if stream is not None:
            stream.close()


class WriteBehind:
    """Writes tables to an :class:`OutputFile` in a background thread, one at a time, in order.

    pyarrow releases the GIL while it encodes and writes, so the next chunk is placed meanwhile;
    at most one table waits (memory stays bounded). An error of a write is raised by the next
    call, or on leaving the block.

    Parameters
    ----------
    output : OutputFile
        Where the tables go.
    """

    def __init__(self, output: OutputFile) -> None:
        self._output = output
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="learnseg-write")
        self._pending: Future[None] | None = None

    def write(self, table: pa.Table) -> None:
        """Hand ``table`` to the writing thread, once the previous one is written."""
        self._wait()
        self._pending = self._pool.submit(self._output.write, table)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            self._wait()
        except Exception:
            if kind is None:  # else the error already on its way says what stopped the run
                raise
        finally:
            self._pool.shutdown(wait=True)


def _csv_ready(table: pa.Table) -> pa.Table:
    """``warnings`` as JSON text (CSV has no lists): ``[]`` for none, empty for an error row."""
    import pyarrow as pa

    index = table.schema.get_field_index("warnings")
    if index < 0:
        return table
    texts = [
        None if words is None else ("[]" if not words else orjson.dumps(words).decode("utf-8"))
        for words in table.column(index).to_pylist()
    ]
    return table.set_column(index, "warnings", pa.array(texts, pa.string()))
