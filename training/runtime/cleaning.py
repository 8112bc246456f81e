"""Cleaning rules for the raw learner table, *apply* half: frozen rules applied with numpy only.

Two halves share every rule:

* **fit** (training only, pandas, :mod:`training.prep.cleaning`): removes exact duplicates, learns
  the data-dependent parts of the rules (CTC bounds, the reference year, the title vocabulary, the
  peer medians used to impute orgyear) into a frozen :class:`CleaningRules`, applies them, and
  collapses the table to one row per learner.
* **apply** (here; training and serving, numpy only): :func:`apply_rules` cleans column arrays of
  any length, a batch of 200,000 rows or a single learner (n = 1), with nothing but the frozen
  rules; :func:`describe_touches` and :func:`describe_rows` word the warnings a served learner gets.

Row rules, in the order they run (each counted in the :class:`CleaningReport` and, at serving time,
turned into a warning for the learner it touched):

===============================  ============================================================
rule                             what it does
===============================  ============================================================
exact_duplicates_dropped         identical rows (ignoring the stray index column) kept once
ctc_missing_dropped              no CTC, or CTC <= 0: the row cannot be placed, dropped
ctc_implausible_imputed          not a yearly salary (2, 15, 1,000; 300 crore): flagged, imputed
ctc_above_bound_lowered          plausible CTC over the learned upper bound lowered to it
ctc_updated_year_imputed         missing or before ``orgyear_min``: the training median
ctc_updated_year_capped          after the reference year: set to the reference year
company_normalised               lower case, punctuation removed, spaces collapsed
company_missing                  empty, or only digits/punctuation ('0', '2020'): unknown company
job_title_placeholder            'Not Available', 'NA', '-', ...: treated as missing
job_title_folded                 variants merged ('FullStack Engineer' = 'Fullstack Engineer')
job_title_rare_to_track          titles held by too few learners: grouped by their track
orgyear_typo_repaired            five-digit years with a valid four-digit prefix (20165 -> 2016)
orgyear_missing_imputed          missing orgyear: imputed from pay peers
orgyear_implausible_imputed      before ``orgyear_min`` or after the reference year: imputed
orgyear_after_ctc_update_imputed started after the CTC was recorded: imputed, capped at it
email_hash_malformed             not a 64-hex id (truncated exports): kept as an opaque id
one_row_per_learner              the latest record of each email_hash, with history kept
===============================  ============================================================

Why impute orgyear rather than drop the row: the learner's pay and role are valid, dropping would
bias segments against learners with messy profiles, and the service cannot drop a learner that an
LMS asks about. The imputed value is the median orgyear of *pay peers* (learners in the same CTC
decile band), which keeps experience consistent with pay, and never later than the year the CTC was
recorded.

Why impute an implausible CTC rather than clip it: a CTC outside ``ctc_min``..``ctc_max`` (INR
50,000 to 10 crore a year by default) cannot be a yearly salary: lakhs or thousands typed as
rupees (2, 15, 1,000), monthly pay (24,000), extra zeros. Raising such values to a bound made a
spike of identical CTCs (1,566 learners at one floor value on the default table), which K-Means
and Ward then isolated as a segment of their own. The flagged value is replaced by the median
CTC of *experience peers*: learners with a plausible CTC who started working the same year
(orgyear), so the learner sits where its experience puts it, spread along the pay curve rather
than piled on one value. When the orgyear must itself be imputed, it comes from
``orgyear_fallback`` (there is no plausible pay to find pay peers with). Plausible but very high
CTCs (above a training quantile) are still lowered to it: those learners are genuinely the best
paid, and the bound only keeps a few of them from stretching the scale.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from string import Formatter
from typing import Any, NamedTuple

import numpy as np

from training.runtime.ops import ARRAY, Coded, Ops, decoded
from training.runtime.tracks import UNKNOWN_TRACK, Tracks

__all__ = [
    "RULES",
    "WARNING_RULES",
    "CleanRows",
    "CleaningRules",
    "apply_rules",
    "describe_rows",
    "describe_touches",
    "display_title",
    "fold_title",
    "normalize_companies",
    "normalize_company",
]


# --------------------------------------------------------------------------------------------
# The rules: name -> (what it does, the warning a served learner gets). Order is run order.
# --------------------------------------------------------------------------------------------
RULES: dict[str, tuple[str, str]] = {
    "exact_duplicates_dropped": (
        "Identical rows (ignoring the stray index column) kept once.",
        "",
    ),
    "ctc_missing_dropped": (
        "No CTC, or CTC <= 0: the row cannot be placed and is dropped.",
        "ctc is missing or not positive: the learner cannot be placed",
    ),
    "ctc_implausible_imputed": (
        "CTC outside the plausible yearly range (ctc_plausible_min..ctc_plausible_max) flagged "
        "and imputed: the median CTC of learners who started working the same year.",
        "ctc {ctc} cannot be a yearly salary: imputed as {value} from learners who started "
        "working the same year",
    ),
    "ctc_above_bound_lowered": (
        "Plausible CTC over the learned upper bound (a training quantile) lowered to it.",
        "ctc {ctc} is above the training range: lowered to {bound}",
    ),
    "ctc_updated_year_imputed": (
        "Missing or before orgyear_min: replaced by the training median.",
        "ctc_updated_year is missing or implausible ({ctc_updated_year}): imputed as {value}",
    ),
    "ctc_updated_year_capped": (
        "After the reference year: set to the reference year.",
        "ctc_updated_year {ctc_updated_year} is after the reference year: capped at {value}",
    ),
    "company_normalised": (
        "Company lower-cased, punctuation removed, spaces collapsed.",
        "",
    ),
    "company_missing": (
        "Empty, or only digits/punctuation ('0', '2020'): the company is unknown.",
        "company is missing or not a name: its pay level is unknown and counted as the "
        "population's",
    ),
    "job_title_placeholder": (
        "Placeholders ('Not Available', 'NA', '-') treated as a missing title.",
        "job_position {job_position!r} is a placeholder: treated as missing",
    ),
    "job_title_folded": (
        "Case, punctuation and spacing folded so variants merge ('FullStack'/'Fullstack').",
        "",
    ),
    "job_title_rare_to_track": (
        "Titles held by fewer than min_title_learners learners grouped by their track.",
        "job_position {job_position!r} is rare: grouped with the other titles of {value!r}",
    ),
    "orgyear_typo_repaired": (
        "Five-digit years with a valid four-digit prefix repaired (20165 -> 2016).",
        "orgyear {orgyear} looks like a typo: read as {value}",
    ),
    "orgyear_missing_imputed": (
        "Missing orgyear imputed from pay peers (median orgyear of the CTC band).",
        "orgyear is missing: imputed as {value} from pay peers",
    ),
    "orgyear_implausible_imputed": (
        "Orgyear before orgyear_min or after the reference year imputed from pay peers.",
        "orgyear {orgyear} is implausible: imputed as {value} from pay peers",
    ),
    "orgyear_after_ctc_update_imputed": (
        "Orgyear after ctc_updated_year imputed from pay peers, capped at ctc_updated_year.",
        "orgyear {orgyear} is after ctc_updated_year: imputed as {value} from pay peers",
    ),
    "email_hash_malformed": (
        "Not a 64-character hex id (truncated exports): kept as an opaque learner id.",
        "",
    ),
    "one_row_per_learner": (
        "One row per email_hash: the latest record, with record count and CTC growth kept.",
        "",
    ),
}

_TITLE_PLACEHOLDERS = frozenset(
    {
        "na",
        "n a",
        "not available",
        "not applicable",
        "none",
        "null",
        "nan",
        "nil",
        "no",
        "unknown",
        "not known",
        "not specified",
        "not mentioned",
        "select",
        # Keyboard filler and test entries say nothing about a job either.
        "xyz",
        "abc",
        "xx",
        "xxx",
        "asdf",
        "qwerty",
        "test",
        "dummy",
        "sample",
        "tbd",
        "nothing",
        "blank",
        "empty",
    }
)
_MERGES = (("full stack", "fullstack"), ("front end", "frontend"), ("back end", "backend"))
# Letters and digits of every script are kept ("Инженер", "软件工程师" are titles, not blanks).
_NON_ALNUM = re.compile(r"[\W_]+")
_NOT_COMPANY_CHAR = re.compile(r"[^a-z0-9 ]+")
_NOT_COMPANY_CHAR_OR_LINE = re.compile(r"[^a-z0-9 \n]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")


# --------------------------------------------------------------------------------------------
# Text normalisation: pure Python, cached, shared by training and serving.
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=200_000)
def normalize_company(value: str) -> str | None:
    """Return the canonical company key, or None when the value names no company.

    Lower case, anything but letters/digits/space removed, spaces collapsed. A value left with no
    letter ('0', '2020', '--') names no company.
    """
    text = " ".join(_NOT_COMPANY_CHAR.sub("", value.lower()).split())
    if not text or not any(ch.isalpha() for ch in text):
        return None
    return text


def normalize_companies(values: Sequence[str]) -> list[str | None]:
    """:func:`normalize_company` of many values at once: the same keys, in order.

    Lower-casing and removing characters run once over the values joined by line breaks (a
    few times faster than value by value, for the thousands of companies a chunk of a big
    table brings); a value that holds a line break itself sends them all value by value.
    """
    joined = "\n".join(values)
    pieces = _NOT_COMPANY_CHAR_OR_LINE.sub("", joined.lower()).split("\n")
    if len(pieces) != len(values):
        return [normalize_company(value) for value in values]
    out: list[str | None] = []
    for piece in pieces:
        text = " ".join(piece.split())
        # Only letters, digits and single spaces are left: no letter = digits and spaces.
        out.append(text if text and not text.replace(" ", "").isdigit() else None)
    return out


@lru_cache(maxsize=200_000)
def fold_title(value: str) -> str | None:
    """Return the folded key of a job title, or None for a placeholder such as 'Not Available'.

    Case, punctuation and spacing are folded and letters are split from digits ('SDE2' and
    'SDE-2' both give 'sde 2'), so 'FullStack Engineer', 'Fullstack  engineer' and
    'Full Stack Engineer' share the key 'fullstack engineer'. Accents and compatibility forms
    are folded ('Développeur' -> 'developpeur', full-width 'ＳＤＥ' -> 'sde'), letters of other
    scripts kept, emoji and symbols dropped. Digits alone, a single letter and filler such as
    'xyz' or 'test' are placeholders.
    """
    if not value.isascii():
        decomposed = unicodedata.normalize("NFKD", value)
        value = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = _NON_ALNUM.sub(" ", value.casefold())
    text = " ".join(_LETTER_DIGIT.sub(" ", text).split())
    for old, new in _MERGES:
        text = text.replace(old, new)
    if not text or not any(ch.isalpha() for ch in text):
        return None
    # A placeholder with a number stuck to it ('Nil1', 'NONE 2') is still a placeholder.
    words = " ".join(word for word in text.split() if not word.isdigit())
    if text in _TITLE_PLACEHOLDERS or words in _TITLE_PLACEHOLDERS or len(words) == 1:
        return None
    return text


def display_title(value: str) -> str:
    """Tidy a raw title for display: surrounding and repeated spaces removed, case kept."""
    return " ".join(value.split())


# --------------------------------------------------------------------------------------------
# Frozen rules
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CleaningRules:
    """Everything the row rules learned from the training table; JSON-serialisable.

    Attributes
    ----------
    reference_year : int
        Year experience is counted to (latest ctc_updated_year + 1 unless set).
    orgyear_min : int
        Earliest plausible orgyear.
    ctc_min, ctc_max : float
        The plausible range of a yearly CTC (settings); values outside are imputed.
    ctc_high : float
        Upper bound of plausible CTCs (a training quantile); values above are lowered to it.
    ctc_updated_year_fallback : int
        Median ctc_updated_year, for learners without one.
    title_map : dict of str to str
        Folded title -> display title, for titles with at least ``min_title_learners`` learners.
    orgyear_band_edges : list of float
        Inner edges of the CTC decile bands (log CTC) used to impute orgyear.
    orgyear_band_values : list of float
        Median orgyear of each band (one more value than edges).
    orgyear_fallback : float
        Median orgyear of all rows, for a row with neither a plausible orgyear nor a plausible
        CTC to find pay peers with.
    ctc_by_orgyear : list of float
        Median CTC of rows with a plausible CTC by orgyear, ``orgyear_min`` to
        ``reference_year`` (years with too few rows take the nearest year's): imputes an
        implausible CTC.
    tracks : Tracks
        The title -> track map (a setting, frozen with the model).
    """

    reference_year: int
    orgyear_min: int
    ctc_min: float
    ctc_max: float
    ctc_high: float
    ctc_updated_year_fallback: int
    title_map: dict[str, str]
    orgyear_band_edges: list[float]
    orgyear_band_values: list[float]
    orgyear_fallback: float
    ctc_by_orgyear: list[float]
    tracks: Tracks = field(default_factory=Tracks)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tracks"}
        return {**out, "tracks": self.tracks.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CleaningRules:
        return cls(
            reference_year=int(data["reference_year"]),
            orgyear_min=int(data["orgyear_min"]),
            ctc_min=float(data["ctc_min"]),
            ctc_max=float(data["ctc_max"]),
            ctc_high=float(data["ctc_high"]),
            ctc_updated_year_fallback=int(data["ctc_updated_year_fallback"]),
            title_map={str(k): str(v) for k, v in data["title_map"].items()},
            orgyear_band_edges=[float(x) for x in data["orgyear_band_edges"]],
            orgyear_band_values=[float(x) for x in data["orgyear_band_values"]],
            orgyear_fallback=float(data["orgyear_fallback"]),
            ctc_by_orgyear=[float(x) for x in data["ctc_by_orgyear"]],
            tracks=Tracks.from_dict(data["tracks"]),
        )


# --------------------------------------------------------------------------------------------
# Apply: numpy over column arrays (n = 1 or n = 200,000), no pandas.
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class CleanRows:
    """Cleaned columns and, per rule, which rows it touched.

    With the array backend every field is a numpy array of length n (object arrays for text);
    with the scalar backend every field is one Python value (one learner). ``coded`` holds the
    text fields (``company``, ``job_title``, ``track``) also as
    :class:`~training.runtime.ops.Coded` columns when the raw text came coded (array backend),
    so the feature lookups run once per distinct raw value.
    """

    company: Any  # str or None
    job_title: Any  # display title, the track's name for rare titles, or None
    track: Any  # always a str: a track id (unknown for a missing or placeholder title)
    orgyear: Any
    ctc: Any
    ctc_updated_year: Any
    valid: Any  # False where the row cannot be placed (no usable CTC)
    touched: dict[str, Any]
    coded: dict[str, Coded] = field(default_factory=dict)

    @property
    def ctc_imputed(self) -> Any:
        """True where the CTC was not a yearly salary and was imputed from experience peers."""
        return self.touched["ctc_implausible_imputed"]


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _clean_company(value: Any) -> tuple[str | None, bool, bool]:
    """(company key, whether normalising changed the text, whether no company is named)."""
    text = _text_or_none(value)
    key = normalize_company(text) if text is not None else None
    return key, key is not None and key != text, key is None


def _clean_companies(values: Sequence[Any]) -> tuple[Any, Any, Any]:
    """:func:`_clean_company` of many values, as its three columns (:func:`normalize_companies`)."""
    texts = np.full(len(values), None, dtype=object)
    keys = np.full(len(values), None, dtype=object)
    named = [i for i, value in enumerate(values) if isinstance(value, str)]
    if named:
        texts[named] = [values[i] for i in named]
        keys[named] = normalize_companies(texts[named].tolist())
    missing = np.equal(keys, np.array(None, dtype=object))
    return keys, ~missing & np.not_equal(keys, texts), missing


class _Title(NamedTuple):
    """What the title rules make of one raw title (computed once per distinct raw value)."""

    title: str | None
    track: str
    placeholder: bool
    folded: bool
    rare: bool


def _clean_title(value: Any, title_map: Mapping[str, str], tracks: Tracks) -> _Title:
    text = _text_or_none(value)
    key = fold_title(text) if text is not None else None
    if key is None:
        placeholder = text is not None and text.strip() != ""
        return _Title(None, UNKNOWN_TRACK, placeholder, False, False)
    track = tracks.of(key)
    shown = title_map.get(key)
    if shown is None:  # a rare title: its track's group of rare titles
        return _Title(tracks.names()[track], track, False, False, True)
    return _Title(shown, track, False, shown != text, False)


def apply_rules(columns: Mapping[str, Any], rules: CleaningRules, ops: Ops = ARRAY) -> CleanRows:
    """Clean raw columns with the frozen rules (no pandas).

    Parameters
    ----------
    columns : mapping
        ``company_hash``, ``job_position`` (str or None), ``orgyear``, ``ctc``,
        ``ctc_updated_year`` (numbers or None/NaN). With ``ops=ARRAY`` each is a sequence of
        length n; with ``ops=SCALAR`` each is one learner's value. Missing keys are treated as
        missing values, except ``ctc`` which is required.
    rules : CleaningRules
        The frozen rules learned at training time.
    ops : ARRAY or SCALAR
        The backend (see :mod:`training.runtime.ops`); both give identical results.

    Returns
    -------
    CleanRows
        Cleaned values and a boolean mask (or bool) per rule.
    """
    # Comparisons with NaN are expected everywhere below: numpy is told once.
    with ops.quiet():
        return _apply_rules(columns, rules, ops)


def _apply_rules(columns: Mapping[str, Any], rules: CleaningRules, ops: Ops) -> CleanRows:
    ctc_raw = ops.floats(columns["ctc"])
    n = ops.length(ctc_raw)
    missing_number = ops.full(n, math.nan)
    missing_text = ops.full(n, None)
    touched: dict[str, Any] = {}

    # CTC: missing/non-positive rows cannot be placed; a value that cannot be a yearly salary
    # is imputed once orgyear is known (below); a plausible one is kept under the upper bound.
    valid = ops.isfinite(ctc_raw) & (ctc_raw > 0)
    ctc_imputed = valid & ((ctc_raw < rules.ctc_min) | (ctc_raw > rules.ctc_max))
    plausible = valid & ops.not_(ctc_imputed)
    touched["ctc_missing_dropped"] = ops.not_(valid)
    touched["ctc_implausible_imputed"] = ctc_imputed
    touched["ctc_above_bound_lowered"] = plausible & (ctc_raw > rules.ctc_high)
    ctc = ops.minimum(ops.where(plausible, ctc_raw, rules.ctc_min), rules.ctc_high)

    # ctc_updated_year
    cuy = ops.floats(columns.get("ctc_updated_year", missing_number))
    cuy_bad = ops.not_(ops.isfinite(cuy)) | (cuy < rules.orgyear_min)
    cuy_late = ops.not_(cuy_bad) & (cuy > rules.reference_year)
    touched["ctc_updated_year_imputed"] = cuy_bad
    touched["ctc_updated_year_capped"] = cuy_late
    cuy = ops.floor(ops.where(cuy_bad, float(rules.ctc_updated_year_fallback), cuy))
    cuy = ops.minimum(cuy, float(rules.reference_year))

    # Company, then job title: each rule once per distinct raw value.
    company, touched["company_normalised"], touched["company_missing"] = ops.derive(
        _clean_company,
        columns.get("company_hash", missing_text),
        _COMPANY_DTYPES,
        many=_clean_companies,
    )
    title_map = rules.title_map
    (
        job_title,
        track,
        touched["job_title_placeholder"],
        touched["job_title_folded"],
        touched["job_title_rare_to_track"],
    ) = ops.derive(
        _clean_title,
        columns.get("job_position", missing_text),
        _TITLE_DTYPES,
        title_map,
        rules.tracks,
    )

    # Orgyear: repair the unambiguous typo, impute the rest from pay peers.
    orgyear = ops.floats(columns.get("orgyear", missing_number))
    prefix = ops.floor(orgyear / 10.0)
    typo = (
        (orgyear >= 10_000)
        & (orgyear < 100_000)
        & (prefix >= rules.orgyear_min)
        & (prefix <= rules.reference_year)
    )
    orgyear = ops.where(typo, prefix, orgyear)
    missing = ops.not_(ops.isfinite(orgyear))
    implausible = ops.not_(missing) & (
        (orgyear < rules.orgyear_min)
        | (orgyear > rules.reference_year)
        | (orgyear != ops.floor(orgyear))
    )
    after = ops.not_(missing) & ops.not_(implausible) & (orgyear > cuy)
    touched["orgyear_typo_repaired"] = typo
    touched["orgyear_missing_imputed"] = missing
    touched["orgyear_implausible_imputed"] = implausible
    touched["orgyear_after_ctc_update_imputed"] = after
    impute = missing | implausible | after
    if ops.any(impute):
        peers = ops.where(
            plausible,
            ops.take(rules.orgyear_band_values, ops.band(rules.orgyear_band_edges, ops.log(ctc))),
            rules.orgyear_fallback,
        )
        orgyear = ops.where(impute, ops.minimum(ops.round(peers), cuy), orgyear)

    # Implausible CTC: the median CTC of experience peers (same orgyear, plausible CTC).
    if ops.any(ctc_imputed):
        upper = len(rules.ctc_by_orgyear) - 1
        by_year = ops.take(rules.ctc_by_orgyear, ops.to_index(orgyear - rules.orgyear_min, upper))
        ctc = ops.where(ctc_imputed, by_year, ctc)

    texts = {"company": company, "job_title": job_title, "track": track}
    return CleanRows(
        company=decoded(company),
        job_title=decoded(job_title),
        track=decoded(track),
        orgyear=orgyear,
        ctc=ctc,
        ctc_updated_year=cuy,
        valid=valid,
        touched=touched,
        coded={name: column for name, column in texts.items() if isinstance(column, Coded)},
    )


_COMPANY_DTYPES = (object, bool, bool)
_TITLE_DTYPES = (object, object, bool, bool, bool)


def _at(value: Any, row: int | None) -> Any:
    return value if row is None else value[row]


def describe_touches(clean: CleanRows, raw: Mapping[str, Any], row: int | None = None) -> list[str]:
    """Warnings, one sentence each, for the rules that touched a learner (for the service).

    ``row`` picks the learner of an array-backend result; leave it None for a scalar result.
    """
    touched = clean.touched
    if row is None:
        hits = [rule for rule in _WARNINGS if touched[rule[0]]]
    else:
        hits = [rule for rule in _WARNINGS if touched[rule[0]][row]]
    out: list[str] = []
    for name, message, field_name in hits:
        values = {
            key: _at(getattr(clean, field_name), row)
            if key == "value"
            else _at(clean.ctc, row)
            if key == "bound"
            else raw.get(key)
            for key in _PLACEHOLDERS[name]
        }
        out.append(_format_warning(message, values))
    return out


def describe_rows(clean: CleanRows, raw: Mapping[str, Sequence[Any]]) -> list[list[str]]:
    """:func:`describe_touches` for every row of an array-backend result, rule by rule.

    ``raw`` holds the raw columns the rows were cleaned from. Same sentences in the same order
    as the scalar path; a sentence is formatted once per distinct set of values it shows.
    """
    out: list[list[str]] = [[] for _ in range(len(clean.valid))]
    for name, message, field_name in _WARNINGS:
        rows = np.flatnonzero(clean.touched[name]).tolist()
        if not rows:
            continue
        shown = _PLACEHOLDERS[name]
        columns = [
            getattr(clean, field_name)[rows].tolist()
            if key == "value"
            else clean.ctc[rows].tolist()
            if key == "bound"
            else [raw[key][i] for i in rows]
            for key in shown
        ]
        # Sentences by the values they show, and their types: 0 == False, yet they read apart.
        said: dict[tuple[Any, ...], str] = {}
        shown_rows = zip(*columns, strict=True) if shown else [()] * len(rows)
        for i, values in zip(rows, shown_rows, strict=True):
            key = (*values, *map(type, values))
            sentence = said.get(key)
            if sentence is None:
                values_by_name = dict(zip(shown, values, strict=True))
                sentence = said[key] = _format_warning(message, values_by_name)
            out[i].append(sentence)
    return out


def _format_warning(message: str, values: Mapping[str, Any]) -> str:
    """A rule's warning, with raw values (``ctc``, ...) and cleaned ones (``value``, ``bound``)."""
    return message.format(
        **{
            key: value
            if key == "job_position" or (key == "value" and isinstance(value, str))
            else _fmt(value)
            for key, value in values.items()
        }
    )


def _warning_field(rule: str) -> str:
    """The cleaned field a rule's warning reports, by rule-name prefix (longest first)."""
    return next(
        (f for f in ("ctc_updated_year", "job_title", "orgyear", "ctc") if rule.startswith(f)),
        "ctc",
    )


#: (rule, warning template, cleaned field it reports) for every rule that warns, in rule order.
_WARNINGS: tuple[tuple[str, str, str], ...] = tuple(
    (name, message, _warning_field(name)) for name, (_, message) in RULES.items() if message
)
#: The rules that warn a learner, in the order their warnings are listed.
WARNING_RULES: tuple[str, ...] = tuple(name for name, _, _ in _WARNINGS)
#: The placeholders each warning template shows (``ctc``, ``bound``, ``value``, ...).
_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    name: tuple(dict.fromkeys(f for _, f, _, _ in Formatter().parse(message) if f))
    for name, message, _ in _WARNINGS
}


def _fmt(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "missing"
        if value.is_integer():
            return str(int(value))
    return str(value)
