"""Load the raw learner table from a path or an http(s) URL, faithfully and with one schema check.

Loading only: every judgement about *values* (junk years, placeholder titles, duplicates) belongs
to :mod:`training.prep.cleaning`. This module only decides what is a value, what is missing, and
what is not a learner table at all.

Output contract
---------------
:func:`load_learners` and :func:`read_learners_frame` return a DataFrame with exactly the columns
:data:`REQUIRED_COLUMNS` (of :mod:`training.runtime.schema`, like the other column lists below),
in that order (extra columns such as the stray ``Unnamed: 0`` index are dropped), the source's row
order and a fresh ``RangeIndex``:

* text columns (:data:`TEXT_COLUMNS`): ``object`` dtype holding Python ``str`` or ``None``, never
  pandas' ``str`` dtype, so that pandas 2 and 3 give the same frame;
* numeric columns (:data:`NUMERIC_COLUMNS`): ``float64`` with ``NaN`` for missing.

Column names are matched case-insensitively, ignoring surrounding spaces (the case study writes
``CTC`` and ``Job_position``, the file ``ctc`` and ``job_position``).

Missing values (NA rules)
-------------------------
pandas' implicit NA tokens differ between versions and would turn a company literally called
``'null'`` into a missing value, so CSV files are read with every column as text and
``keep_default_na=False``; the rules below are then applied explicitly, the same way to every
format (CSV, Parquet, an in-memory frame):

==============================  ==================  ==============================================
field                           text column         numeric column
==============================  ==================  ==============================================
empty, or only spaces           missing (``None``)  missing (``NaN``)
``nan NA N/A null None``        the string as is    missing (any letter case)
``2018.0``, ``7e5``, ``-3``     the string as is    the number (``' 700000 '`` too)
``12,00,000``, ``1,200,000``    the string as is    :class:`DataError` (no thousands separators)
``abc``, ``inf``, ``1_000``     the string as is    :class:`DataError` naming the column, the count
                                                    and up to three examples with row numbers
==============================  ==================  ==============================================

Text values are otherwise kept verbatim (no stripping, no case folding): ``'Not Available'`` and
``'NA'`` job titles stay strings, placeholder titles are a cleaning rule. Thousands separators are
refused rather than guessed because ``1,500`` is 1500 in one locale and 1.5 in another, and the
real file has none. Infinite values are refused: no CTC or year is infinite. Row numbers in
messages count data rows from 1 (in a CSV file without blank lines, row *n* is line *n* + 1).

The real file: the profile in ``shared/data/reference_profile.json`` was read with pandas'
default NA tokens and reports company_hash 44, orgyear 86 and job_position 52,564 missing values
(none elsewhere). These rules give the same counts as long as no text field of the real file is
literally one of those tokens (only its empty fields are missing). That is true of every row seen
so far (``shared/data/real_rows.csv``); it could not be checked on the full file here.

Sources
-------
A local path, or an http(s) URL, downloaded once into a cache folder and reused without any request
afterwards (delete the cached file to download again). CSV (also ``.gz``, ``.bz2``, ``.xz``,
``.zip``, ``.zst``, ``.tar`` compressed, and gzip recognised by its first bytes whatever the name)
and Parquet (``.parquet``/``.pq``, or any file that starts with the Parquet magic bytes). Any
other name is read as CSV. Whatever goes wrong, the caller gets a :class:`DataError` whose message
is one sentence for a person.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http
import logging
import lzma
import os
import re
import tempfile
import time
import urllib.parse
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

import httpx
import numpy as np
import numpy.typing as npt
import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from training.config import TrainingSettings
from training.runtime.schema import NUMERIC_COLUMNS, REQUIRED_COLUMNS

__all__ = [
    "LEARNER_ID_COLUMN",
    "NUMERIC_NA_TOKENS",
    "PARQUET_MAGIC",
    "PARQUET_SUFFIXES",
    "DataError",
    "LearnerChunks",
    "RawChunk",
    "decode_chunk",
    "download",
    "learner_id_position",
    "load_learners",
    "match_columns",
    "open_learner_chunks",
    "read_learners_frame",
]

logger = logging.getLogger(__name__)

#: Tokens that mean "missing" in a numeric column (compared lower-cased, spaces stripped).
NUMERIC_NA_TOKENS: frozenset[str] = frozenset({"", "nan", "na", "n/a", "null", "none"})

#: The optional column of a table that holds the caller's own id of each row (read by ``assign``
#: and ``diff``, echoed, never used to place).
LEARNER_ID_COLUMN = "learner_id"

#: File name endings read as Parquet (compared lower-cased).
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
#: The first bytes of every Parquet file.
PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
# Compressions pandas infers from the name; gzip is recognised by its magic bytes instead.
_OTHER_COMPRESSION_SUFFIXES = frozenset({".bz2", ".xz", ".zip", ".zst", ".tar"})
_SNIFF_BYTES = 8192
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old-style Office document (an Excel workbook?)"),
)
_MAX_LISTED_COLUMNS = 20
_MAX_EXAMPLES = 3

_Compression = Literal["gzip", "infer"] | None
_FloatArray = npt.NDArray[np.float64]
_ObjectArray = npt.NDArray[np.object_]


class DataError(ValueError):
    """A learner table that cannot be read; the message is one clear sentence for a person."""


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def load_learners(
    source: str | Path,
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> pd.DataFrame:
    """Read the raw learner table from a local file or an http(s) URL.

    Parameters
    ----------
    source : str or Path
        A local path (``~`` is expanded) or an ``http://``/``https://`` URL. CSV (optionally
        compressed) or Parquet; see the module docstring for how the format is chosen.
    cache_dir : Path or None, default=None
        Where a downloaded file is kept; None uses the settings' default,
        ``~/.cache/learnseg`` (pass ``TrainingSettings.cache_dir`` to honour the environment).
    progress : bool, default=True
        Show a download progress bar on stderr. Local files never show one.
    timeout : float, default=60.0
        Seconds allowed for each network operation (connect, each read) of a download.

    Returns
    -------
    learners : DataFrame of shape (n_rows, 6)
        Exactly :data:`REQUIRED_COLUMNS` in that order, the source's row order, a fresh
        ``RangeIndex``; text columns ``object`` (``str`` or ``None``), numeric ``float64``.

    Raises
    ------
    DataError
        The source cannot be fetched or read, is not a learner table (a required column is
        missing or ambiguous), has no rows, or holds a numeric value that is not a number.
    """
    started = time.perf_counter()
    path, origin = _local_source(source, cache_dir, progress=progress, timeout=timeout)
    frame = _read_file(path, origin)
    logger.info(
        "Loaded %d learner rows from %s in %.2f s.",
        len(frame),
        _url_of(source) or path,
        time.perf_counter() - started,
    )
    return frame


def read_learners_frame(
    df: pd.DataFrame, *, origin: str = "frame", first_row: int = 0
) -> pd.DataFrame:
    """Apply the loader's schema check and NA/number rules to a raw in-memory table.

    Parameters
    ----------
    df : DataFrame of shape (n_rows, n_columns)
        A raw learner table (for example the synthetic default, or a frame read by other means).
        Column names are matched case-insensitively, ignoring surrounding spaces; extra columns
        are dropped. Values may be strings (parsed by the module's NA rules) or already typed
        (numbers, ``None``, ``NaN``). It is not modified.
    origin : str, default="frame"
        What the table is, for messages (a path, a URL, "synthetic default").
    first_row : int, default=0
        Data rows of the table before this frame (a chunk of it), so messages give row numbers
        of the whole table.

    Returns
    -------
    learners : DataFrame of shape (n_rows, 6)
        Exactly :data:`REQUIRED_COLUMNS` in that order, the input's row order, a fresh
        ``RangeIndex``; text columns ``object`` (``str`` or ``None``), numeric ``float64``.

    Raises
    ------
    DataError
        A required column is missing or matched by two columns, the table has no rows, or a
        numeric column holds a value that is not a number.
    """
    positions = match_columns(list(df.columns))
    if len(df) == 0:
        raise DataError(f"The learner table {origin} has no rows.")
    columns: dict[str, pd.Series] = {}
    for name, position in zip(REQUIRED_COLUMNS, positions, strict=True):
        raw = df.iloc[:, position]
        if name in NUMERIC_COLUMNS:
            values = _numeric_values(raw, name, first_row)
            columns[name] = pd.Series(values, dtype="float64", copy=False)
        else:
            text = _text_values(raw, name, origin, first_row)
            columns[name] = pd.Series(text, dtype=object, copy=False)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(df)))


@dataclass(frozen=True)
class RawChunk:
    """A chunk of a learner table as read, before the loader's rules (:func:`decode_chunk`).

    Cheap to send to another process: ``data`` is an Arrow record batch (Parquet) or a frame of
    strings (CSV).
    """

    data: Any
    origin: str
    first_row: int  # data rows of the table before this chunk
    names: tuple[str, ...] | None = None  # a CSV header as written (duplicates kept)


def decode_chunk(chunk: RawChunk) -> pd.DataFrame:
    """A raw chunk in the loader's schema: :func:`read_learners_frame` with whole-table rows."""
    data = chunk.data
    frame = data if isinstance(data, pd.DataFrame) else data.to_pandas()
    if chunk.names is not None and frame.shape[1] == len(chunk.names):
        # pandas renames duplicate headers ('ctc', 'ctc.1'); check the names as written.
        frame.columns = pd.Index(list(chunk.names), dtype=object)
    return read_learners_frame(frame, origin=chunk.origin, first_row=chunk.first_row)


@dataclass
class LearnerChunks:
    """A learner table opened for reading chunk by chunk (see :func:`open_learner_chunks`).

    Attributes
    ----------
    origin : str
        The source, for messages.
    path : Path
        The local file read (the cached download for a URL).
    rows : int or None
        Data rows, when the format says so up front (Parquet); None for CSV.
    raw : iterator of RawChunk
        Consecutive chunks as read, in row order; :func:`decode_chunk` applies the loader's
        rules to each (in this process or another).
    learner_id : bool
        The table has a :data:`LEARNER_ID_COLUMN` (a Parquet chunk then holds it after the
        required columns; a CSV chunk holds every column).
    """

    origin: str
    path: Path
    rows: int | None
    raw: Iterator[RawChunk]
    learner_id: bool = False

    @property
    def chunks(self) -> Iterator[pd.DataFrame]:
        """The chunks in the loader's schema (:func:`read_learners_frame`), in row order."""
        return map(decode_chunk, self.raw)


def open_learner_chunks(
    source: str | Path,
    *,
    chunk_rows: int,
    cache_dir: Path | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> LearnerChunks:
    """Open a learner table to read it chunk by chunk, in memory bounded by the chunk.

    The same sources, formats, schema check and NA/number rules as :func:`load_learners`; the
    file is opened and its header (or Parquet schema) checked here, before any chunk is read, so
    a wrong file fails before anything is written from it.

    Parameters
    ----------
    source : str or Path
        A local path or an http(s) URL (downloaded once into the cache, as by
        :func:`load_learners`). CSV (optionally compressed) or Parquet.
    chunk_rows : int
        Rows per chunk (the last one may be shorter).
    cache_dir : Path or None, default=None
        Where a downloaded file is kept (None: the settings' default).
    progress : bool, default=True
        Show a download progress bar on stderr.
    timeout : float, default=60.0
        Seconds allowed for each network operation of a download.

    Returns
    -------
    LearnerChunks
        Whose ``chunks`` yields DataFrames of at most ``chunk_rows`` rows with exactly
        :data:`REQUIRED_COLUMNS`; row numbers in messages count from the table's first row.

    Raises
    ------
    DataError
        As :func:`load_learners`, when opening or while reading a chunk (a value that is not a
        number names its row in the whole table); a table without rows once read to the end.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1.")
    path, origin = _local_source(source, cache_dir, progress=progress, timeout=timeout)
    try:
        with path.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DataError(
            f"The learner table {origin} could not be opened ({exc.strerror or exc})."
        ) from exc
    if not head:
        raise DataError(f"The learner table {origin} is empty (0 bytes).")
    if head.startswith(PARQUET_MAGIC) or path.suffix.lower() in PARQUET_SUFFIXES:
        return _parquet_chunks(path, origin, chunk_rows)
    return _csv_chunks(path, origin, head, chunk_rows)


def _parquet_chunks(path: Path, origin: str, chunk_rows: int) -> LearnerChunks:
    import pyarrow as pa
    import pyarrow.parquet as pq

    unreadable = (pa.ArrowException, OSError, ValueError)
    try:
        # pre_buffer (pyarrow's default) keeps what it read ahead: the whole file, by the end.
        handle = pq.ParquetFile(path, pre_buffer=False)
        names = [str(name) for name in handle.schema_arrow.names]
        rows = int(handle.metadata.num_rows)
    except unreadable as exc:
        raise _not_parquet(path, origin, exc) from exc
    positions = match_columns(names)  # read only the columns needed
    optional = learner_id_position(names)
    if optional is not None:
        positions = [*positions, optional]
    if rows == 0:
        raise DataError(f"The learner table {origin} has no rows.")

    def chunks() -> Iterator[RawChunk]:
        done = 0
        batches = handle.iter_batches(
            batch_size=chunk_rows, columns=[names[p] for p in positions], use_threads=False
        )
        while True:
            try:
                batch = next(batches, None)
            except unreadable as exc:
                raise _not_parquet(path, origin, exc) from exc
            if batch is None:
                return
            yield RawChunk(data=batch, origin=origin, first_row=done)
            done += batch.num_rows

    return LearnerChunks(
        origin=origin, path=path, rows=rows, raw=chunks(), learner_id=optional is not None
    )


def _csv_chunks(path: Path, origin: str, head: bytes, chunk_rows: int) -> LearnerChunks:
    compression: _Compression
    if head.startswith(_GZIP_MAGIC):
        compression = "gzip"
        head = _gunzip_head(path, origin)
    elif path.suffix.lower() in _OTHER_COMPRESSION_SUFFIXES:
        compression = "infer"
        head = b""
    else:
        compression = None
    _sniff_text(head, origin)
    with _csv_errors(origin):
        names = _read_csv_header(path, compression)
        match_columns(names)
        optional = learner_id_position(names)

    def chunks() -> Iterator[RawChunk]:
        with _csv_errors(origin):
            reader = pd.read_csv(
                path,
                sep=",",
                header=0,
                index_col=False,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                compression=compression,
                encoding="utf-8",
                chunksize=chunk_rows,
            )
        done = 0
        with reader:
            while True:
                # Each chunk is read under the parser's error rules, never across a yield.
                with _csv_errors(origin):
                    raw = next(reader, None)
                if raw is None:
                    break
                if len(raw) == 0:
                    continue
                yield RawChunk(data=raw, origin=origin, first_row=done, names=tuple(names))
                done += len(raw)
        if done == 0:
            raise DataError(f"The learner table {origin} has no rows.")

    return LearnerChunks(
        origin=origin, path=path, rows=None, raw=chunks(), learner_id=optional is not None
    )


def download(url: str, cache_dir: Path, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` into ``cache_dir`` once; later calls return the cached file unrequested.

    The file is streamed to a ``.part`` file in ``cache_dir``, checked against the server's
    Content-Length, and only then renamed into place, so an interrupted or failed download never
    leaves a file that looks complete. Redirects are followed.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` URL.
    cache_dir : Path
        Folder for downloads (created if needed). The file name is the URL's base name plus a
        short hash of the whole URL, so different URLs never share a file.
    progress : bool, default=True
        Show a progress bar on stderr.
    timeout : float, default=60.0
        Seconds allowed for each network operation (connect, each read).

    Returns
    -------
    path : Path
        The complete downloaded (or previously cached) file.

    Raises
    ------
    DataError
        Unsupported scheme, HTTP error status, network failure, short body, or an unwritable
        cache folder; the message names the URL and the reason.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DataError(_unsupported_scheme_message(url, scheme))
    target = cache_dir / _cache_name(url)
    if target.is_file():
        logger.info("Using the cached copy of %s at %s.", url, target)
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
            dir=cache_dir, prefix=f".{target.name}.", suffix=".part", delete=False
        )
    except OSError as exc:
        raise DataError(
            f"Could not download {url}: the cache folder {cache_dir} is not writable "
            f"({exc.strerror or exc})."
        ) from exc
    part = Path(handle.name)
    try:
        with handle:
            _stream_to(url, handle, progress=progress, timeout=timeout)
        os.replace(part, target)
    except OSError as exc:
        raise DataError(
            f"Could not download {url}: writing to {cache_dir} failed ({exc.strerror or exc})."
        ) from exc
    finally:
        # Anything short of a complete, renamed file leaves nothing behind.
        part.unlink(missing_ok=True)
    logger.info("Downloaded %s to %s.", url, target)
    return target


# --------------------------------------------------------------------------------------------
# sources and downloads
# --------------------------------------------------------------------------------------------


def _local_source(
    source: str | Path, cache_dir: Path | None, *, progress: bool, timeout: float
) -> tuple[Path, str]:
    """The local file to read for `source` (a URL is downloaded into the cache first), and how
    messages name it; a missing or unreadable local file is a DataError here."""
    if not str(source).strip():
        raise DataError("No learner table given: the source is an empty string.")
    url = _url_of(source)
    if url is not None:
        directory = cache_dir if cache_dir is not None else _default_cache_dir()
        path = download(url, directory, progress=progress, timeout=timeout)
        return path, f"{url} (cached at {path})"
    path = Path(source).expanduser()
    _check_local_file(path, str(source))
    return path, str(source)


def _default_cache_dir() -> Path:
    # The settings' default factory, without reading the environment for every other knob.
    return Path(TrainingSettings.model_fields["cache_dir"].get_default(call_default_factory=True))


def _url_of(source: str | Path) -> str | None:
    """Return ``source`` if it is a URL (http(s) or not), None if it is a local path."""
    if isinstance(source, Path) or "://" not in source:
        return None
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if scheme not in ("http", "https"):
        raise DataError(_unsupported_scheme_message(source, scheme))
    return source


def _unsupported_scheme_message(url: str, scheme: str) -> str:
    shown = f"'{scheme}://'" if scheme else "this kind of"
    return f"Cannot load {url}: {shown} URLs are not supported; use a local path or an http(s) URL."


def _cache_name(url: str) -> str:
    """``<base name>-<12 hex of sha256(url)><suffixes>``, safe as a file name everywhere."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    base = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "download"
    suffixes = [s.lower() for s in PurePosixPath(base).suffixes]
    keep = 2 if len(suffixes) >= 2 and suffixes[-1] in {".gz", *_OTHER_COMPRESSION_SUFFIXES} else 1
    suffix = "".join(PurePosixPath(base).suffixes[-keep:]) if suffixes else ""
    if len(suffix) > 20:  # not an extension, just dots in a name
        suffix = ""
    stem = base[: len(base) - len(suffix)] if suffix else base
    return f"{stem[:80]}-{digest}{suffix}"


def _stream_to(url: str, handle: IO[bytes], *, progress: bool, timeout: float) -> None:
    """Stream ``url`` into the open binary ``handle``; raise DataError on any failure."""
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
            if not response.is_success:
                status = f"HTTP {response.status_code}"
                # The standard phrase, not the server's wording ('File not found').
                reason = _status_phrase(response.status_code) or response.reason_phrase
                raise DataError(f"Could not download {url}: {status} {reason}".rstrip() + ".")
            expected = _content_length(response)
            name = PurePosixPath(urllib.parse.urlsplit(url).path).name or url
            with _progress_bar(progress) as bar:
                task = bar.add_task(f"Downloading {name}", total=expected)
                for chunk in response.iter_bytes(chunk_size=1 << 16):
                    handle.write(chunk)
                    bar.update(task, completed=response.num_bytes_downloaded)
            received = response.num_bytes_downloaded
            if expected is not None and received != expected:
                raise DataError(
                    f"Could not download {url}: the server sent {received:,} of the "
                    f"{expected:,} bytes it announced."
                )
    except httpx.TimeoutException as exc:
        raise DataError(f"Could not download {url}: no answer within {timeout:g} s.") from exc
    except httpx.ConnectError as exc:
        raise DataError(f"Could not download {url}: cannot connect ({_reason(exc)}).") from exc
    except httpx.RemoteProtocolError as exc:
        raise DataError(
            f"Could not download {url}: the connection broke before the download was complete "
            f"({_reason(exc)})."
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise DataError(f"Could not download {url}: {_reason(exc)}.") from exc


def _content_length(response: httpx.Response) -> int | None:
    """The announced size of the raw body, or None when unknown."""
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def _status_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
    return text or type(exc).__name__


def _check_local_file(path: Path, origin: str) -> None:
    if path.is_dir():
        raise DataError(f"The learner table {origin} is a directory, not a file.")
    if not path.exists():
        raise DataError(f"The learner table {origin} does not exist.")
    if not path.is_file():
        raise DataError(f"The learner table {origin} is not a regular file.")


# --------------------------------------------------------------------------------------------
# reading files
# --------------------------------------------------------------------------------------------


def _read_file(path: Path, origin: str) -> pd.DataFrame:
    try:
        with path.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DataError(
            f"The learner table {origin} could not be opened ({exc.strerror or exc})."
        ) from exc
    if not head:
        raise DataError(f"The learner table {origin} is empty (0 bytes).")
    if head.startswith(PARQUET_MAGIC) or path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path, origin)
    return _read_csv(path, origin, head)


def _read_parquet(path: Path, origin: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    unreadable = (pa.ArrowException, OSError, ValueError)
    try:
        names = [str(name) for name in pq.read_schema(path).names]
    except unreadable as exc:
        raise _not_parquet(path, origin, exc) from exc
    positions = match_columns(names)  # read only the columns needed
    try:
        raw = pd.read_parquet(path, columns=[names[p] for p in positions])
    except unreadable as exc:
        raise _not_parquet(path, origin, exc) from exc
    return read_learners_frame(raw, origin=origin)


def _not_parquet(path: Path, origin: str, exc: BaseException) -> DataError:
    logger.debug("pyarrow could not read %s: %s", path, exc)
    return DataError(
        f"The learner table {origin} is not a readable Parquet file (it may be truncated or "
        "corrupt)."
    )


def _read_csv(path: Path, origin: str, head: bytes) -> pd.DataFrame:
    compression: _Compression
    if head.startswith(_GZIP_MAGIC):
        compression = "gzip"
        head = _gunzip_head(path, origin)
    elif path.suffix.lower() in _OTHER_COMPRESSION_SUFFIXES:
        compression = "infer"
        head = b""  # compressed: the parser's own errors speak for it
    else:
        compression = None  # also a '.gz' name holding plain text: read as it is
    _sniff_text(head, origin)
    with _csv_errors(origin):
        names = _read_csv_header(path, compression)
        match_columns(names)  # fail on the schema before parsing every row
        raw = pd.read_csv(
            path,
            sep=",",
            header=0,
            # A trailing comma on every line must not turn the first column into an index.
            index_col=False,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            compression=compression,
            encoding="utf-8",
        )
    if raw.shape[1] == len(names):
        # pandas renames duplicate headers ('ctc', 'ctc.1'); check the names as written.
        raw.columns = pd.Index(names, dtype=object)
    return read_learners_frame(raw, origin=origin)


def _read_csv_header(path: Path, compression: _Compression) -> list[str]:
    """The header fields exactly as written (no renaming of duplicates, no NA parsing)."""
    first = pd.read_csv(
        path,
        sep=",",
        header=None,
        nrows=1,
        dtype=str,
        na_filter=False,
        compression=compression,
        encoding="utf-8",
    )
    return [str(value) for value in first.iloc[0].tolist()]


def _gunzip_head(path: Path, origin: str) -> bytes:
    try:
        with gzip.open(path, "rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"The learner table {origin} is not a valid gzip file (it may be truncated)."
        ) from exc
    if not head:
        raise DataError(f"The learner table {origin} is empty (0 bytes once decompressed).")
    return head


def _sniff_text(head: bytes, origin: str) -> None:
    """Refuse what is clearly not CSV text, from the first few kilobytes."""
    if not head:
        return
    for signature, what in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise DataError(f"The learner table {origin} is not a CSV file: it is {what}.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(
            f"The learner table {origin} is UTF-16 text; save it as UTF-8 CSV and load it again."
        )
    if b"\x00" in head:
        raise DataError(f"The learner table {origin} is not a CSV file: it holds binary data.")
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith((b"{", b"[")):
        raise DataError(f"The learner table {origin} is not a CSV file: it looks like JSON.")
    if text.startswith(b"<"):
        raise DataError(
            f"The learner table {origin} is not a CSV file: it looks like an HTML or XML page."
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sniff boundary
            raise _not_utf8(origin) from exc


def _not_utf8(origin: str) -> DataError:
    return DataError(f"The learner table {origin} is not UTF-8 text; save it as UTF-8 CSV.")


@contextlib.contextmanager
def _csv_errors(origin: str) -> Iterator[None]:
    """Turn the CSV parser's exceptions and data-losing warnings into one-sentence DataErrors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            yield
        except DataError:
            raise
        except pd.errors.ParserWarning as exc:
            raise DataError(
                f"The learner table {origin} has rows with more fields than its header."
            ) from exc
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"The learner table {origin} is empty (no header row).") from exc
        except UnicodeDecodeError as exc:
            raise _not_utf8(origin) from exc
        except pd.errors.ParserError as exc:
            match = re.search(r"Expected \d+ fields in line \d+, saw \d+", str(exc))
            detail = f": {match.group(0)}" if match else ""
            raise DataError(
                f"The learner table {origin} is not a well-formed CSV file{detail}."
            ) from exc
        except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
            raise DataError(
                f"The learner table {origin} could not be decompressed or read ({_reason(exc)})."
            ) from exc
        except ValueError as exc:
            raise DataError(
                f"The learner table {origin} could not be read as CSV ({_reason(exc)})."
            ) from exc


# --------------------------------------------------------------------------------------------
# schema and values
# --------------------------------------------------------------------------------------------


def _normalise_name(name: object) -> str:
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return ""
    return str(name).strip().lower()


def match_columns(names: Sequence[object]) -> list[int]:
    """Positions of :data:`REQUIRED_COLUMNS` among ``names``, case and edge spaces ignored.

    The pandas loader and the Spark loader (:mod:`training.spark.data`) both match a table's
    header with it.

    Parameters
    ----------
    names : sequence
        The table's column names, in order (non-strings allowed: pandas may hand over NaN).

    Returns
    -------
    list of int, length len(REQUIRED_COLUMNS)
        Position in ``names`` of each required column, in the order of ``REQUIRED_COLUMNS``.

    Raises
    ------
    DataError
        A required column is missing, or two columns read as the same required name.
    """
    found: dict[str, list[int]] = {}
    for position, name in enumerate(names):
        found.setdefault(_normalise_name(name), []).append(position)
    missing = [name for name in REQUIRED_COLUMNS if name not in found]
    if missing:
        raise DataError(_missing_message(missing, names))
    for name in REQUIRED_COLUMNS:
        if len(found[name]) > 1:
            spelled = ", ".join(repr(str(names[p])) for p in found[name])
            raise DataError(
                f"The learner table has {len(found[name])} columns that read as '{name}' once "
                f"case and surrounding spaces are ignored ({spelled}); keep only one."
            )
    return [found[name][0] for name in REQUIRED_COLUMNS]


def learner_id_position(names: Sequence[object]) -> int | None:
    """Position of the optional :data:`LEARNER_ID_COLUMN` among ``names`` (None: no such column).

    Matched as the required columns are (case and edge spaces ignored).

    Raises
    ------
    DataError
        Two columns read as ``learner_id``.
    """
    found = [p for p, name in enumerate(names) if _normalise_name(name) == LEARNER_ID_COLUMN]
    if len(found) > 1:
        spelled = ", ".join(repr(str(names[p])) for p in found)
        raise DataError(
            f"The learner table has {len(found)} columns that read as '{LEARNER_ID_COLUMN}' "
            f"once case and surrounding spaces are ignored ({spelled}); keep only one."
        )
    return found[0] if found else None


def _missing_message(missing: Sequence[str], names: Sequence[object]) -> str:
    shown = [_clip(str(name).strip(), 40) for name in names[:_MAX_LISTED_COLUMNS]]
    listed = ", ".join(shown) if shown else "no columns"
    if len(names) > _MAX_LISTED_COLUMNS:
        listed += f" and {len(names) - _MAX_LISTED_COLUMNS} more"
    what = (
        f"no '{missing[0]}' column"
        if len(missing) == 1
        else "no " + ", ".join(f"'{name}'" for name in missing) + " columns"
    )
    hint = ""
    if len(names) == 1 and any(sep in str(names[0]) for sep in (";", "\t", "|")):
        hint = " (is it separated by something other than commas?)"
    return f"The learner table has {what}; found: {listed}{hint}."


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _is_string_column(column: pd.Series) -> bool:
    # pandas' str dtype (pandas 3), or "string" of any storage; not object, which may hold anything.
    return isinstance(column.dtype, pd.StringDtype)


def _object_values(column: pd.Series) -> _ObjectArray:
    """A writable object array of the column's values, with None wherever pandas sees NA."""
    values: _ObjectArray = column.to_numpy(dtype=object, copy=True)
    values[column.isna().to_numpy(dtype=bool)] = None
    return values


def _text_values(column: pd.Series, name: str, origin: str, first_row: int = 0) -> _ObjectArray:
    """Python str or None; empty and whitespace-only fields become None, the rest verbatim."""
    values: _ObjectArray = _object_values(column)
    if _is_string_column(column):
        blank = (column.str.strip() == "").to_numpy(dtype=bool, na_value=False)
        values[blank] = None
        return values
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = _as_text(value, name, first_row + i, origin)
    return out


def _as_text(value: object, name: str, row: int, origin: str) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"Column '{name}' of the learner table {origin} is not UTF-8 text at row {row + 1}."
            ) from exc
    text = value if type(value) is str else str(value)
    return text if text.strip() else None


def _numeric_values(column: pd.Series, name: str, first_row: int = 0) -> _FloatArray:
    """float64 with NaN for missing; DataError listing values that are not finite numbers."""
    dtype = column.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values: _FloatArray = np.array(
            column.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64, copy=True
        )
        if np.isinf(values).any():
            _raise_bad_numbers(name, column.to_numpy(dtype=object), np.isinf(values), first_row)
        return values
    if _is_string_column(column):
        strings = column  # pandas' own (Arrow-backed) string methods: no Python loop
    else:
        cells = [_number_text(value) for value in _object_values(column)]
        strings = pd.Series(np.array(cells, dtype=object), dtype=object, copy=False)
    text = strings.str.strip()
    is_token = text.str.lower().isin(NUMERIC_NA_TOKENS)
    missing = (text.isna() | is_token).to_numpy(dtype=bool, na_value=True)
    parsed = pd.to_numeric(text.where(~missing), errors="coerce")
    values = np.array(parsed.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
    bad = ~missing & ~np.isfinite(values)
    if bad.any():
        _raise_bad_numbers(name, _object_values(column), bad, first_row)
    return values


def _number_text(value: object) -> str | None:
    """A cell of an object column, as the text the NA/number rules apply to (None if missing)."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)  # 2018 -> '2018', 2018.0 -> '2018.0', True -> 'True' (refused)


def _raise_bad_numbers(
    name: str, raw: _ObjectArray, bad: npt.NDArray[np.bool_], first_row: int = 0
) -> None:
    rows = np.flatnonzero(bad)
    examples = ", ".join(
        f"row {first_row + row + 1}: {_clip(str(raw[row]), 30)!r}" for row in rows[:_MAX_EXAMPLES]
    )
    count = (
        "1 value that is not a number"
        if len(rows) == 1
        else f"{len(rows):,} values that are not numbers"
    )
    raise DataError(
        f"Column '{name}' of the learner table has {count} (e.g. {examples}); write plain "
        "numbers such as 1200000, without thousands separators."
    )
