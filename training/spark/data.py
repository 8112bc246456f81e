"""The data layer on Apache Spark: load, clean and compute learner features at scale.

The rules and features are the pandas path's own (:mod:`training.prep.cleaning`,
:mod:`training.prep.features`); only *where* the numbers are computed changes:

* **fit** with Spark aggregations: CTC quantiles and medians with Spark's exact ``percentile``
  (numpy's linear interpolation), the title vocabulary with distinct emails per folded title, the
  per-band median orgyear, the peer tables (size and median log CTC per company, title, role
  track, company x title and year of experience); the figures are frozen on the driver into the
  same :class:`~training.runtime.cleaning.CleaningRules` and
  :class:`~training.runtime.features.FeatureTables` (through the same constructors and helpers);
* **apply** on the executors with ``mapInPandas``: :func:`training.runtime.cleaning.apply_rules`
  and :func:`training.runtime.features.compute_features` on numpy columns, the code the service
  runs;
* exact de-duplication and one row per learner with Spark aggregations: the latest record,
  preferring one with a job title, then the earlier in file order (file path, then position in
  the file), with the same record count and CTC growth as
  :func:`training.prep.cleaning.collapse_learners`.

Every logarithm is numpy's (in pandas UDFs), never the JVM's, so learned edges and medians are
bit-for-bit those of the pandas path and a learner exactly on an edge falls in the same band.

Loading follows :mod:`training.data.load`: the required columns matched case-insensitively, text
fields verbatim with empty ones missing, numeric fields by the same NA tokens and the same
refusal of anything that is not a plain finite number. Sources: a CSV or Parquet file, a folder
of them or a glob, on any file system Spark can read (``s3a://bucket/learners/*.parquet`` with
the hadoop-aws package); an http(s) URL is downloaded once into the cache, as the pandas path
does. CSV is read as RFC 4180 (double quotes escape quotes) without multi-line records.

This module imports pyspark at import time: import it only after
:func:`training.spark.session.check_spark`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]
from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as sf
from pyspark.sql.pandas.functions import pandas_udf
from pyspark.sql.types import DoubleType

from training.config import TrainingSettings
from training.data.load import (
    NUMERIC_NA_TOKENS,
    PARQUET_MAGIC,
    PARQUET_SUFFIXES,
    DataError,
    download,
    match_columns,
    read_learners_frame,
)
from training.data.synth import generate_learners
from training.prep.cleaning import (
    LATEST_PLAUSIBLE_YEAR,
    CleaningReport,
    PeerFigures,
    check_plausible_ctc,
    ctc_growth,
    learner_ids,
    make_rules,
    reference_years,
    title_vocabulary,
    year_curve,
)
from training.prep.features import PAY_BANDS, PayCells, band_edges, fit_pay_at_record
from training.runtime.cleaning import (
    RULES,
    CleaningRules,
    apply_rules,
    display_title,
    fold_title,
)
from training.runtime.features import FEATURE_COLUMNS, PEER_SEP, FeatureTables, compute_features
from training.runtime.ops import ARRAY
from training.runtime.schema import NUMERIC_COLUMNS, RAW_FIELDS, REQUIRED_COLUMNS, TEXT_COLUMNS
from training.runtime.tracks import UNKNOWN_TRACK

__all__ = [
    "ORDER_COLUMNS",
    "CleanedLearners",
    "RawTable",
    "SparkLearnerData",
    "build_learner_data",
    "clean_learners",
    "collapse_learners",
    "deduplicate",
    "featurize",
    "fit_feature_tables",
    "fit_rules",
    "read_learners",
]

log = logging.getLogger(__name__)

#: Columns that give every raw row its place in the input: file, split start, position.
ORDER_COLUMNS = ("_file", "_block", "_pos")
#: Cleaned learner columns and their Spark types, before the features (``n_records`` and
#: ``ctc_growth`` are features).
_LEARNER_TYPES = {
    "learner_id": "string",
    "company": "string",
    "job_title": "string",
    "track": "string",
    "orgyear": "double",
    "ctc": "double",
    "ctc_updated_year": "double",
    "ctc_imputed": "boolean",
}
_NUMPY_TYPES: dict[str, type] = {"string": object, "double": np.float64, "boolean": bool}

# A plain finite decimal number, what pandas.to_numeric accepts once NA tokens are set aside
# (Java's parser would also take '1d', '0x1p3' or 'Infinity').
_PLAIN_NUMBER = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_BLANK = r"^(?U)[\s\x1c-\x1f]*$"
_EDGE_SPACE = r"^(?U)[\s\x1c-\x1f]+|(?U)[\s\x1c-\x1f]+$"
_MAX_EXAMPLES = 3
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".gz", ".bz2", ".txt")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
@dataclass
class RawTable:
    """Typed raw rows (the loader's schema plus :data:`ORDER_COLUMNS`) and their figures."""

    rows: DataFrame
    count: int
    fingerprint: str
    source: str


def read_learners(spark: SparkSession, source: str | None, settings: TrainingSettings) -> RawTable:
    """Read the raw learner table with Spark, checked and typed as :mod:`training.data.load` does.

    Parameters
    ----------
    spark : SparkSession
    source : str or None
        A CSV/Parquet file, folder or glob (any Hadoop file system), an http(s) URL, or None for
        the embedded default (generated on the driver).
    settings : TrainingSettings
        ``cache_dir`` for downloads; ``synth_rows`` and ``synth_seed`` for the default.

    Returns
    -------
    RawTable
        ``rows`` has :data:`~training.runtime.schema.REQUIRED_COLUMNS` (text as string or null,
        numbers as double or null) and the order columns; ``fingerprint`` is a SHA-256 of the row
        count and the sum of 64-bit row hashes (it does not depend on row order or partitioning).

    Raises
    ------
    DataError
        The source does not exist or cannot be read, is not a learner table, has no rows, or
        holds a numeric value that is not a number.
    """
    if source is None:
        local = read_learners_frame(
            generate_learners(rows=settings.synth_rows, seed=settings.synth_seed),
            origin="the embedded default",
        )
        local = local.assign(_file="", _block=0, _pos=np.arange(len(local), dtype=np.int64))
        typed = _typed(spark.createDataFrame(local), list(local.columns))
        label = (
            f"embedded default (synthetic, {settings.synth_rows} rows, seed {settings.synth_seed})"
        )
        return _checked(typed, label)
    path = source
    if urllib.parse.urlsplit(source).scheme.lower() in ("http", "https"):
        path = str(download(source, settings.cache_dir))
    with _read_errors(source):
        table = _read_table(spark, path)
        names = [name.lstrip("\ufeff") for name in table.columns]
        positions = match_columns(names)
        raw = table.select(
            *(
                sf.col(_quoted(table.columns[p])).alias(n)
                for p, n in zip(positions, REQUIRED_COLUMNS, strict=True)
            ),
            sf.col("_metadata.file_path").alias("_file"),
            sf.col("_metadata.file_block_start").alias("_block"),
            sf.monotonically_increasing_id().alias("_pos"),
        )
        return _checked(_typed(raw, list(raw.columns)), source)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _read_table(spark: SparkSession, path: str) -> DataFrame:
    """The table at ``path`` as Parquet or as CSV (every column text)."""
    kind = _format_of(path)
    if kind != "csv":
        try:
            return spark.read.parquet(path)
        except AnalysisException:
            if kind == "parquet":
                raise
    return spark.read.csv(
        path,
        header=True,
        inferSchema=False,
        quote='"',
        escape='"',
        multiLine=False,
        mode="FAILFAST",
        encoding="UTF-8",
    )


def _format_of(path: str) -> str | None:
    """'parquet' or 'csv' by name, by the files of a local folder or by a local file's magic
    bytes; None when only reading can tell (a remote folder): Parquet is tried first."""
    name = path.rstrip("/").lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if "://" in path:
        return None
    local = Path(path)
    if local.is_dir():
        names = [p.name.lower() for p in local.iterdir() if not p.name.startswith(("_", "."))]
        if names and all(n.endswith(PARQUET_SUFFIXES) for n in names):
            return "parquet"
        return "csv" if names and all(n.endswith(_CSV_SUFFIXES) for n in names) else None
    if local.is_file():
        with local.open("rb") as stream:
            return "parquet" if stream.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC else "csv"
    return None


@contextmanager
def _read_errors(origin: str) -> Iterator[None]:
    """Turn Spark's errors while reading into one-sentence DataErrors."""
    try:
        yield
    except DataError:
        raise
    except AnalysisException as exc:
        text = str(exc)
        if "PATH_NOT_FOUND" in text or "Path does not exist" in text:
            raise DataError(f"The learner table {origin} does not exist.") from exc
        if "UNABLE_TO_INFER_SCHEMA" in text:
            raise DataError(f"The learner table {origin} holds no readable rows.") from exc
        raise DataError(
            f"The learner table {origin} could not be read ({_first_line(exc)})."
        ) from exc
    except (PySparkException, Py4JJavaError) as exc:
        log.debug("Spark could not read %s", origin, exc_info=True)
        raise DataError(
            f"The learner table {origin} could not be read by Spark ({_first_line(exc)})."
        ) from exc


_ERROR_CLASS = re.compile(r"\[([A-Z][A-Z_.]+)\]\s*([^\n]*)")


def _first_line(exc: BaseException) -> str:
    """The innermost Spark error ('[MALFORMED_CSV_RECORD] Malformed CSV record: ...'), else the
    first line of the message."""
    text = str(exc)
    causes = _ERROR_CLASS.findall(text)
    if causes:
        kind, detail = causes[-1]
        return _clip(f"{kind}: {detail.split(' SQLSTATE')[0].strip()}", 160)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return _clip(lines[0], 160) if lines else type(exc).__name__


def _typed(frame: DataFrame, columns: list[str]) -> DataFrame:
    """Apply the loader's NA and number rules; add ``_bad_<column>`` flags for numeric columns.

    Two selects: the first trims numeric text into ``_t_<column>``, the second parses it with
    ``try_cast`` (an SQL expression that must name its input column).
    """
    types = dict(frame.dtypes)
    first: list[Column] = []
    for name in columns:
        col = sf.col(_quoted(name))
        if name in NUMERIC_COLUMNS and not _is_numeric_type(types[name]):
            text = sf.regexp_replace(col.cast("string"), _EDGE_SPACE, "")
            first += [text.alias(f"_t_{name}"), col.cast("string").alias(f"_raw_{name}")]
        elif name in NUMERIC_COLUMNS:
            first += [col.alias(f"_n_{name}"), col.cast("string").alias(f"_raw_{name}")]
        elif name in TEXT_COLUMNS:
            text = col if types[name] == "string" else col.cast("string")
            first.append(sf.when(text.rlike(_BLANK), sf.lit(None)).otherwise(text).alias(name))
        else:
            first.append(col.alias(name))
    staged = frame.select(*first)
    second: list[Column] = []
    for name in columns:
        if name not in NUMERIC_COLUMNS:
            second.append(sf.col(name))
            continue
        if _is_numeric_type(types[name]):
            value = sf.col(f"_n_{name}").cast("double")
            finite = value.isNull() | ~(sf.isnan(value) | (sf.abs(value) == sf.lit(math.inf)))
            clean = sf.when(sf.isnan(value), sf.lit(None)).otherwise(value)
            second += [sf.when(finite, clean).alias(name), (~finite).alias(f"_bad_{name}")]
        else:
            text = sf.col(f"_t_{name}")
            missing = text.isNull() | sf.lower(text).isin(*sorted(NUMERIC_NA_TOKENS))
            parsed = sf.expr(f"try_cast(`_t_{name}` as double)")
            ok = (
                text.rlike(_PLAIN_NUMBER) & parsed.isNotNull() & (sf.abs(parsed) < sf.lit(math.inf))
            )
            second += [
                sf.when(~missing & ok, parsed).alias(name),
                (~missing & ~ok).alias(f"_bad_{name}"),
            ]
        second.append(sf.col(f"_raw_{name}"))
    return staged.select(*second)


def _is_numeric_type(dtype: str) -> bool:
    return dtype in ("double", "float", "int", "bigint", "smallint", "tinyint") or dtype.startswith(
        "decimal"
    )


def _checked(typed: DataFrame, origin: str) -> RawTable:
    """Count rows, refuse bad numbers (naming up to three), fingerprint; one pass over the data."""
    hashed = sf.xxhash64(*(sf.col(c) for c in REQUIRED_COLUMNS)).cast("decimal(38,0)")
    aggs = [sf.count(sf.lit(1)).alias("rows"), sf.sum(hashed).alias("hash")]
    aggs += [sf.count_if(sf.col(f"_bad_{c}")).alias(f"bad_{c}") for c in NUMERIC_COLUMNS]
    with _read_errors(origin):
        figures = typed.agg(*aggs).first()
        assert figures is not None
        rows = int(figures["rows"])
        if rows == 0:
            raise DataError(f"The learner table {origin} has no rows.")
        for name in NUMERIC_COLUMNS:
            bad = int(figures[f"bad_{name}"])
            if bad:
                examples = [
                    r[0]
                    for r in typed.where(sf.col(f"_bad_{name}"))
                    .select(f"_raw_{name}")
                    .limit(_MAX_EXAMPLES)
                    .collect()
                ]
                shown = ", ".join(repr(_clip(str(e), 30)) for e in examples)
                count = (
                    "1 value that is not a number"
                    if bad == 1
                    else f"{bad:,} values that are not numbers"
                )
                raise DataError(
                    f"Column '{name}' of the learner table {origin} has {count} (e.g. {shown}); "
                    "write plain numbers such as 1200000, without thousands separators."
                )
    digest = hashlib.sha256(f"{rows}:{figures['hash']}".encode()).hexdigest()
    keep = [*REQUIRED_COLUMNS, *ORDER_COLUMNS]
    return RawTable(rows=typed.select(*keep), count=rows, fingerprint=digest, source=origin)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------------------------
# Cleaning: fit the rules with aggregations, apply them with mapInPandas, one row per learner
# --------------------------------------------------------------------------------------------
def deduplicate(rows: DataFrame) -> DataFrame:
    """Exact duplicates kept once, at the place of their first occurrence."""
    first = sf.min(sf.struct(*(sf.col(c) for c in ORDER_COLUMNS))).alias("_first")
    return (
        rows.groupBy(*REQUIRED_COLUMNS)
        .agg(first)
        .select(*REQUIRED_COLUMNS, *(sf.col(f"_first.{c}").alias(c) for c in ORDER_COLUMNS))
    )


def _np_log(values: pd.Series) -> pd.Series:
    return pd.Series(np.log(values.to_numpy(np.float64)), index=values.index)


def _log_udf() -> Any:
    # numpy's log in a pandas UDF: the JVM's log may differ from it in the last bit.
    return pandas_udf(_np_log, DoubleType())  # type: ignore[call-overload]  # stubs: no hint form


def fit_rules(table: DataFrame, settings: TrainingSettings) -> CleaningRules:
    """:func:`training.prep.cleaning.fit_rules` with Spark aggregations (the same figures).

    Parameters
    ----------
    table : DataFrame
        De-duplicated raw rows (:func:`deduplicate`).
    settings : TrainingSettings

    Returns
    -------
    CleaningRules

    Raises
    ------
    ValueError
        As the pandas path's, with the same sentences.
    """
    ctc, cuy = sf.col("ctc"), sf.col("ctc_updated_year")
    plausible_ctc = (
        ctc.isNotNull()
        & (ctc >= sf.lit(settings.ctc_plausible_min))
        & (ctc <= sf.lit(settings.ctc_plausible_max))
    )
    plausible = cuy.isNotNull() & (cuy >= settings.orgyear_min) & (cuy <= LATEST_PLAUSIBLE_YEAR)
    head = table.agg(
        sf.count_if(plausible_ctc).alias("plausible_ctc"),
        sf.percentile(sf.when(plausible_ctc, ctc), settings.ctc_upper_quantile).alias("ctc_q"),
        sf.percentile(sf.when(plausible_ctc, ctc), 0.5).alias("ctc_median"),
        sf.count_if(plausible).alias("plausible"),
        sf.max(sf.when(plausible, cuy)).alias("cuy_max"),
        sf.percentile(sf.when(plausible, cuy), 0.5).alias("cuy_median"),
    ).first()
    assert head is not None
    check_plausible_ctc(int(head["plausible_ctc"]), settings)
    ctc_high = float(head["ctc_q"])
    reference_year, cuy_fallback = reference_years(
        settings,
        latest=float(head["cuy_max"]) if head["plausible"] else None,
        median=float(head["cuy_median"]) if head["plausible"] else None,
    )
    peers = _fit_peers(
        table, plausible_ctc, ctc_high, reference_year, float(head["ctc_median"]), settings
    )
    return make_rules(
        settings,
        reference_year=reference_year,
        ctc_high=ctc_high,
        ctc_updated_year_fallback=cuy_fallback,
        title_map=_fit_titles(table, settings.min_title_learners),
        peers=peers,
    )


def _fit_peers(
    table: DataFrame,
    plausible_ctc: Column,
    ctc_high: float,
    reference_year: int,
    ctc_median: float,
    settings: TrainingSettings,
) -> PeerFigures:
    """Pay peers (median orgyear per CTC decile band, numpy's log) and experience peers (median
    CTC per orgyear) from the rows whose orgyear and CTC are valid; ``ctc_median`` (of every
    plausible CTC) imputes CTC when no row is valid."""
    ctc, org = sf.col("ctc"), sf.col("orgyear")
    good = (
        org.isNotNull()
        & (org >= settings.orgyear_min)
        & (org <= reference_year)
        & (org == sf.floor(org))
        & plausible_ctc
    )
    capped = sf.least(ctc, sf.lit(ctc_high))
    peers = table.where(good).select(
        org.alias("orgyear"), capped.alias("ctc"), _log_udf()(capped).alias("log_ctc")
    )
    peers.persist()
    try:
        deciles = [float(q) for q in np.linspace(0.1, 0.9, 9)]
        spread = peers.agg(
            sf.count(sf.lit(1)).alias("n"),
            sf.percentile("log_ctc", deciles).alias("q"),
            sf.percentile("orgyear", 0.5).alias("median"),
            sf.percentile("ctc", 0.5).alias("ctc_median"),
        ).first()
        assert spread is not None
        if spread["n"]:
            edges = [float(e) for e in np.unique(np.asarray(spread["q"], np.float64))]
            overall = float(spread["median"])
            fallback_ctc = float(spread["ctc_median"])
        else:
            edges, overall = [], float(reference_year - 5)
            fallback_ctc = ctc_median
        band = sum(
            ((sf.col("log_ctc") >= sf.lit(e)).cast("int") for e in edges), sf.lit(0)
        )  # numpy.searchsorted(edges, value, side="right")
        medians = {
            int(r["band"]): float(r["median"])
            for r in peers.groupBy(band.alias("band"))
            .agg(sf.percentile("orgyear", 0.5).alias("median"))
            .collect()
        }
        by_year = {
            int(r["orgyear"]): float(r["median"])
            for r in peers.groupBy("orgyear")
            .agg(sf.count(sf.lit(1)).alias("n"), sf.percentile("ctc", 0.5).alias("median"))
            .collect()
            if r["n"] >= settings.min_group_size
        }
    finally:
        peers.unpersist()
    return PeerFigures(
        orgyear_band_edges=edges,
        orgyear_band_values=[medians.get(b, overall) for b in range(len(edges) + 1)],
        orgyear_fallback=overall,
        ctc_by_orgyear=year_curve(by_year, settings.orgyear_min, reference_year, fallback_ctc),
    )


def _fit_titles(table: DataFrame, min_learners: int) -> dict[str, str]:
    """Title vocabulary: learners (distinct emails) per folded title, commonest spelling shown.

    Titles are folded on the driver, once per distinct raw title (a few thousand), with the
    pandas path's own :func:`~training.runtime.cleaning.fold_title`.
    """
    spark = table.sparkSession
    raw_counts = (
        table.where(sf.col("job_position").isNotNull())
        .groupBy("job_position")
        .agg(sf.count(sf.lit(1)).alias("rows"))
        .collect()
    )
    folded = [
        (str(r["job_position"]), fold_title(str(r["job_position"])), int(r["rows"]))
        for r in raw_counts
    ]
    keyed = [(raw, key) for raw, key, _ in folded if key is not None]
    if not keyed:
        return {}
    keys = spark.createDataFrame(keyed, "job_position string, key string")
    learners = (
        table.join(sf.broadcast(keys), "job_position")
        .groupBy("key")
        .agg(sf.count_distinct(sf.coalesce(sf.col("email_hash"), sf.lit(""))).alias("learners"))
        .where(sf.col("learners") >= min_learners)
        .collect()
    )
    kept = {str(r["key"]) for r in learners}
    spellings: dict[tuple[str, str], int] = {}
    for raw, key, rows in folded:
        if key in kept:
            spelling = (key, display_title(raw))
            spellings[spelling] = spellings.get(spelling, 0) + rows
    return title_vocabulary(spellings)


@dataclass
class CleanedLearners:
    """One row per learner: cleaned learner columns, ``n_records``, ``ctc_growth``, ``log_ctc``."""

    learners: DataFrame
    rules: CleaningRules
    report: CleaningReport


_CLEAN_SCHEMA = (
    "learner_id string, company string, job_title string, track string, orgyear double, "
    "ctc double, ctc_updated_year double, ctc_imputed boolean, has_title boolean, "
    "valid boolean, touched bigint, "
    "malformed boolean, _file string, _block bigint, _pos bigint"
)
_RULE_BITS = {name: bit for bit, name in enumerate(RULES)}


def _clean_batches(rules: CleaningRules) -> Any:
    """The mapInPandas function applying the frozen rules to batches of raw rows."""

    def clean(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            columns: dict[str, Any] = {
                c: batch[c].to_numpy(dtype=object) for c in RAW_FIELDS if c in TEXT_COLUMNS
            }
            for c in NUMERIC_COLUMNS:
                columns[c] = batch[c].to_numpy(dtype=np.float64, na_value=np.nan)
            cleaned = apply_rules(columns, rules, ARRAY)
            email = batch["email_hash"].to_numpy(dtype=object)
            positions = (
                batch["_row"].to_numpy(np.int64)
                if "_row" in batch
                else np.zeros(len(batch), np.int64)
            )
            ids, malformed = learner_ids(email, positions)
            touched = np.zeros(len(batch), dtype=np.int64)
            for name, mask in cleaned.touched.items():
                touched |= np.asarray(mask, bool).astype(np.int64) << _RULE_BITS[name]
            yield pd.DataFrame(
                {
                    "learner_id": ids,
                    "company": cleaned.company,
                    "job_title": cleaned.job_title,
                    "track": cleaned.track,
                    "orgyear": cleaned.orgyear,
                    "ctc": cleaned.ctc,
                    "ctc_updated_year": cleaned.ctc_updated_year,
                    "ctc_imputed": np.asarray(cleaned.ctc_imputed, bool),
                    "has_title": pd.notna(pd.Series(cleaned.job_title)).to_numpy(),
                    "valid": np.asarray(cleaned.valid, bool),
                    "touched": touched,
                    "malformed": malformed,
                    "_file": batch["_file"].to_numpy(dtype=object),
                    "_block": batch["_block"].to_numpy(np.int64),
                    "_pos": batch["_pos"].to_numpy(np.int64),
                }
            )

    return clean


def _with_row_positions(table: DataFrame) -> DataFrame:
    """Add ``_row``, each row's position in the de-duplicated table (in file order).

    Only rows without an email need it (their learner id is ``row-<position>``, as in the pandas
    path), so it is computed only when there are any: rows per split are counted and turned into
    offsets on the driver, then numbered within each split.
    """
    spark = table.sparkSession
    blocks = sorted(
        (str(r["_file"]), int(r["_block"]), int(r["rows"]))
        for r in table.groupBy("_file", "_block").agg(sf.count(sf.lit(1)).alias("rows")).collect()
    )
    offsets, total = [], 0
    for file, block, rows in blocks:
        offsets.append((file, block, total))
        total += rows
    starts = spark.createDataFrame(offsets, "_file string, _block bigint, _offset bigint")
    within = Window.partitionBy("_file", "_block").orderBy("_pos")
    return (
        table.join(sf.broadcast(starts), ["_file", "_block"])
        .withColumn("_row", sf.col("_offset") + sf.row_number().over(within) - 1)
        .drop("_offset")
    )


def clean_learners(raw: RawTable, settings: TrainingSettings) -> CleanedLearners:
    """:func:`training.prep.cleaning.clean_learners` on Spark: the same rules, counts and learners.

    The returned learners frame is persisted; unpersist it when done.
    """
    report = CleaningReport(rows_in=raw.count)
    table = deduplicate(raw.rows).persist()
    try:
        figures = table.agg(
            sf.count(sf.lit(1)).alias("rows"),
            sf.count_if(sf.col("email_hash").isNull()).alias("no_email"),
        ).first()
        assert figures is not None
        report.add("exact_duplicates_dropped", raw.count - int(figures["rows"]))
        rules = fit_rules(table, settings)
        source = _with_row_positions(table) if figures["no_email"] else table
        rows = source.mapInPandas(_clean_batches(rules), _CLEAN_SCHEMA).persist()
        bit = sf.col("touched")
        touched_names = list(apply_rules({"ctc": np.ones(1)}, rules, ARRAY).touched)
        counts = rows.agg(
            *(
                sf.sum(sf.shiftright(bit, _RULE_BITS[name]).bitwiseAND(1)).alias(name)
                for name in touched_names
            ),
            sf.count_if("malformed").alias("malformed"),
            sf.count_if("valid").alias("valid"),
        ).first()
        assert counts is not None
        for name in RULES:
            if name in touched_names:
                report.add(name, int(counts[name] or 0))
        report.add("email_hash_malformed", int(counts["malformed"]))
        report.rows_out = int(counts["valid"])
        learners = collapse_learners(rows.where(sf.col("valid"))).persist()
        report.learners = learners.count()
        report.add("one_row_per_learner", report.rows_out - report.learners)
        rows.unpersist()
    finally:
        table.unpersist()
    return CleanedLearners(learners=learners, rules=rules, report=report)


def _growth(first_ctc: pd.Series, last_ctc: pd.Series, years: pd.Series) -> pd.Series:
    values = ctc_growth(
        first_ctc.to_numpy(np.float64), last_ctc.to_numpy(np.float64), years.to_numpy(np.float64)
    )
    return pd.Series(values, index=first_ctc.index)


def collapse_learners(rows: DataFrame) -> DataFrame:
    """One row per learner: :func:`training.prep.cleaning.collapse_learners` with one aggregation.

    The latest record is the greatest (ctc_updated_year, has_title, file order) and the earliest
    the least: struct comparison is field by field, and the order columns make it a total order.
    """
    key = ("ctc_updated_year", "has_title", *ORDER_COLUMNS)
    kept = ("company", "job_title", "track", "orgyear", "ctc", "ctc_imputed")
    grouped = rows.groupBy("learner_id").agg(
        sf.count(sf.lit(1)).cast("double").alias("n_records"),
        sf.max(sf.struct(*key, *kept)).alias("last"),
        sf.min(sf.struct(*key, "ctc")).alias("first"),
    )
    growth = pandas_udf(_growth, DoubleType())  # type: ignore[call-overload]
    return grouped.select(
        "learner_id",
        *(sf.col(f"last.{c}").alias(c) for c in kept),
        sf.col("last.ctc_updated_year").alias("ctc_updated_year"),
        "n_records",
        growth(
            sf.col("first.ctc"),
            sf.col("last.ctc"),
            sf.col("last.ctc_updated_year") - sf.col("first.ctc_updated_year"),
        ).alias("ctc_growth"),
        _log_udf()(sf.col("last.ctc")).alias("log_ctc"),
    )


# --------------------------------------------------------------------------------------------
# Features: fit the peer tables with aggregations, compute the features with mapInPandas
# --------------------------------------------------------------------------------------------
def _group_medians(frame: DataFrame, keys: list[str]) -> list[Any]:
    return (
        frame.groupBy(*keys)
        .agg(
            sf.count(sf.lit(1)).alias("size"),
            sf.percentile("log_ctc", 0.5).alias("median"),
        )
        .collect()
    )


def fit_feature_tables(
    learners: DataFrame, rules: CleaningRules, settings: TrainingSettings
) -> FeatureTables:
    """:func:`training.prep.features.fit_feature_tables` with Spark aggregations (the same tables).

    The tables hold one entry per company and title, so they are collected to the driver, as
    they are written into ``segmenter.json``.
    """
    min_size = settings.min_group_size
    company, title = sf.col("company"), sf.col("job_title")
    head = learners.agg(
        sf.count(sf.lit(1)).alias("n"), sf.percentile("log_ctc", 0.5).alias("median")
    ).first()
    assert head is not None
    population = float(head["median"])

    companies = _group_medians(learners.where(company.isNotNull()), ["company"])
    company_size = {str(r["company"]): int(r["size"]) for r in companies}
    company_median = {
        str(r["company"]): float(r["median"]) for r in companies if r["size"] >= min_size
    }
    titles = _group_medians(learners.where(title.isNotNull()), ["job_title"])
    title_median = {
        str(r["job_title"]): float(r["median"]) for r in titles if r["size"] >= min_size
    }
    tracks = _group_medians(learners.where(sf.col("track") != sf.lit(UNKNOWN_TRACK)), ["track"])
    track_median = {str(r["track"]): float(r["median"]) for r in tracks if r["size"] >= min_size}
    pairs = _group_medians(
        learners.where(company.isNotNull() & title.isNotNull()), ["company", "job_title"]
    )
    peer = sorted(
        ((str(r["company"]), str(r["job_title"])), float(r["median"]))
        for r in pairs
        if r["size"] >= min_size
    )
    at_record = sf.greatest(
        sf.floor(sf.col("ctc_updated_year") - sf.col("orgyear")), sf.lit(0)
    ).cast("long")
    cells = sorted(
        (int(r["at_record"]), int(r["recorded"]), int(r["size"]), float(r["median"]))
        for r in _group_medians(
            learners.withColumn("at_record", at_record).withColumn(
                "recorded", sf.col("ctc_updated_year").cast("long")
            ),
            ["at_record", "recorded"],
        )
    )
    pay = fit_pay_at_record(
        PayCells(
            at_record=np.array([c[0] for c in cells], np.int64),
            recorded=np.array([c[1] for c in cells], np.int64),
            size=np.array([c[2] for c in cells], np.int64),
            median=np.array([c[3] for c in cells], np.float64),
        ),
        min_size,
        population,
    )
    company_median = dict(sorted(company_median.items()))
    title_median = dict(sorted(title_median.items()))

    # Pay peers for a learner without a title median: by decile band of own log CTC.
    points = [float(q) for q in np.linspace(0, 1, PAY_BANDS + 1)[1:-1]]
    spread = learners.agg(sf.percentile("log_ctc", points).alias("q")).first()
    pay_edges = [float(e) for e in spread["q"]] if spread is not None and head["n"] else []
    band = sum(
        ((sf.col("log_ctc") >= sf.lit(e)).cast("int") for e in pay_edges), sf.lit(0)
    )  # numpy.searchsorted(edges, value, side="right")
    by_band = {
        name: _band_medians(learners, key, medians, band, len(pay_edges) + 1, population)
        for name, key, medians in (("title", "job_title", title_median),)
    }
    return FeatureTables(
        reference_year=rules.reference_year,
        min_group_size=min_size,
        flag_tolerance=settings.flag_tolerance,
        population_median=population,
        company_size=dict(sorted(company_size.items())),
        company_median=company_median,
        title_median=title_median,
        track_median=dict(sorted(track_median.items())),
        peer_median={f"{c}{PEER_SEP}{t}": value for (c, t), value in peer},
        pay_baseline=pay.baseline,
        pay_experience_effect=pay.experience_effect,
        pay_year_effect=pay.year_effect,
        pay_first_year=pay.first_year,
        tier_edges=band_edges(np.fromiter(company_median.values(), np.float64), settings.n_tiers),
        class_edges=band_edges(
            np.fromiter(title_median.values(), np.float64), settings.n_job_classes
        ),
        pay_band_edges=pay_edges,
        title_median_by_band=by_band["title"],
    )


def _band_medians(
    learners: DataFrame,
    key: str,
    medians: Mapping[str, float],
    band: Column,
    bands: int,
    fallback: float,
) -> list[float]:
    """:func:`training.prep.features.band_medians` of the group medians of ``key``, by pay band."""
    if not medians:
        return [float(fallback)] * bands
    spark = learners.sparkSession
    table = spark.createDataFrame(list(medians.items()), f"{key} string, _median double")
    rows = (
        learners.join(sf.broadcast(table), key)
        .groupBy(band.alias("band"))
        .agg(sf.percentile("_median", 0.5).alias("median"))
        .collect()
    )
    found = {int(r["band"]): float(r["median"]) for r in rows}
    return [found.get(b, float(fallback)) for b in range(bands)]


# The learner frame: cleaned learner columns, then every feature.
_FEATURES_SCHEMA = ", ".join(
    [*(f"{name} {kind}" for name, kind in _LEARNER_TYPES.items())]
    + [f"{name} double" for name in FEATURE_COLUMNS]
)


def _feature_batches(tables: FeatureTables) -> Any:
    """The mapInPandas function computing the features of batches of cleaned learners."""

    def features(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            columns: dict[str, Any] = {
                c: batch[c].to_numpy(dtype=object) for c in ("company", "job_title", "track")
            }
            for c in ("orgyear", "ctc", "ctc_updated_year", "n_records", "ctc_growth"):
                columns[c] = batch[c].to_numpy(np.float64)
            values = compute_features(columns, tables, ARRAY)
            out = {
                c: batch[c].to_numpy(dtype=_NUMPY_TYPES[kind]) for c, kind in _LEARNER_TYPES.items()
            }
            out |= {name: np.asarray(values[name], np.float64) for name in FEATURE_COLUMNS}
            yield pd.DataFrame(out)

    return features


@dataclass
class SparkLearnerData:
    """The Spark twin of :class:`training.prep.features.LearnerData`.

    ``learners`` (persisted) has the cleaned learner columns and every feature, one row per
    learner.
    """

    learners: DataFrame
    rules: CleaningRules
    tables: FeatureTables
    report: CleaningReport
    raw: RawTable

    def unpersist(self) -> None:
        self.learners.unpersist()


def build_learner_data(raw: RawTable, settings: TrainingSettings) -> SparkLearnerData:
    """Clean the raw rows, fit the peer tables and compute every learner's features on Spark."""
    cleaned = clean_learners(raw, settings)
    try:
        tables = fit_feature_tables(cleaned.learners, cleaned.rules, settings)
        learners = cleaned.learners.mapInPandas(
            _feature_batches(tables), _FEATURES_SCHEMA
        ).persist()
        learners.count()
    finally:
        cleaned.learners.unpersist()
    return SparkLearnerData(
        learners=learners, rules=cleaned.rules, tables=tables, report=cleaned.report, raw=raw
    )


def featurize(rows: DataFrame, rules: CleaningRules, tables: FeatureTables, key: str) -> DataFrame:
    """Features of raw rows scored as single learners, as the service does (no history).

    Parameters
    ----------
    rows : DataFrame
        Raw fields (:data:`~training.runtime.schema.RAW_FIELDS`; missing columns count as
        missing values) and a ``key`` column
        (bigint) that is passed through.
    rules, tables
        Frozen at training time (nothing is learned here).

    Returns
    -------
    DataFrame
        ``key``, ``valid`` (False where the CTC cannot be placed; the features are then
        meaningless) and every feature.
    """
    schema = f"{key} bigint, valid boolean" + "".join(f", {n} double" for n in FEATURE_COLUMNS)
    present = set(rows.columns)

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            columns: dict[str, Any] = {
                c: batch[c].to_numpy(dtype=object)
                for c in RAW_FIELDS
                if c in TEXT_COLUMNS and c in present
            }
            for c in NUMERIC_COLUMNS:
                if c in present:
                    columns[c] = batch[c].to_numpy(dtype=np.float64, na_value=np.nan)
            cleaned = apply_rules(columns, rules, ARRAY)
            values = compute_features(
                {
                    "company": cleaned.company,
                    "job_title": cleaned.job_title,
                    "track": cleaned.track,
                    "orgyear": cleaned.orgyear,
                    "ctc": cleaned.ctc,
                    "ctc_updated_year": cleaned.ctc_updated_year,
                },
                tables,
                ARRAY,
            )
            out = {key: batch[key].to_numpy(np.int64), "valid": np.asarray(cleaned.valid, bool)}
            out |= {name: np.asarray(values[name], np.float64) for name in FEATURE_COLUMNS}
            yield pd.DataFrame(out)

    return rows.mapInPandas(score, schema)
