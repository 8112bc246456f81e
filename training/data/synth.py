"""Seeded generator of a realistic raw learner table: the embedded default dataset.

The real case-study file (``scaler_clustering.csv``, 205,843 rows) cannot be shipped or downloaded
everywhere, so :func:`generate_learners` builds a stand-in with the same schema, dtypes and the
published statistics of the real file (``shared/data/reference_profile.json``): null counts,
distinct values, quartiles, year shares, top job titles, duplicate structure, repeated learners
and the junk (impossible years, tiny and enormous CTCs, messy titles and company names).

It is not a table of independent columns. Each learner has a hidden true start year, a company
with its own pay level and a role; CTC follows the published experience-vs-CTC quartiles of the
cleaned file (pay rises with years of experience and the spread widens), shifted by company and
role, so clustering finds real structure. A CTC is the pay of the year it was recorded: the
learner's experience in that year and that year's pay level (the market grows ``_PAY_GROWTH`` a
year, an assumption: the real file publishes only the CTC years' counts and the table by
experience counted to 2022, which still holds). About two in five learners are on a standard package
of their company (the same round CTC for a company, start year and pay band, updated in the same
year): that is what gives the real file its many rows that repeat all but the email. All
parameters live in this module (the reference profile is only read by the tests); everything
scales with ``rows`` and the same seed gives the same frame.

Shape of a learner
------------------
A learner is one ``email_hash``. About a quarter of learners appear on 2 to 10 rows: the same
company, start year, CTC and CTC year, each row with a *different* job title (or one missing
title), sometimes in two snapshots (a second, usually lower and earlier, CTC record) that repeat
the titles. A few rows are exact duplicates. Rows are shuffled and carry a sorted, gappy
``Unnamed: 0`` like the real file.

Known gap: the published orgyear mean (2014.88) and std (63.57) cannot both hold together with
the published quartiles, top year counts and junk values; the junk matches the std, and the
mean comes out about 0.9 years lower.
"""

from __future__ import annotations

import gzip
import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.runtime.schema import FILE_COLUMNS, FILE_ROWS, INDEX_COLUMN

__all__ = ["generate_learners", "write_learners"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# --- sizes of the real file (everything scales with rows / _FULL_ROWS) ----------------------------
_FULL_ROWS: Final = FILE_ROWS
_FULL_INDEX_SPAN: Final = 206_923  # "Unnamed: 0" runs over range(0, 206_923) with gaps
_FULL_LEARNERS: Final = 153_443  # distinct email_hash
_FULL_REPEATED: Final = 41_216  # emails seen on more than one row
_MAX_ROWS_PER_LEARNER: Final = 10
_FULL_COMPANIES: Final = 37_299
_FULL_NULL_COMPANY: Final = 44
_FULL_NULL_ORGYEAR: Final = 86
_FULL_NULL_TITLE: Final = 52_564
_FULL_EXACT_DUPLICATES: Final = 34
_FULL_TAIL_TITLES: Final = 987  # rare free-text titles beyond the 29 frequent ones
_FULL_COMPANY_VARIANTS: Final = 91  # punctuation / case / spacing variants of another company
_FULL_NUMERIC_COMPANIES: Final = 20
_SPLIT_SHARE: Final = 0.22  # repeated learners with a second CTC snapshot
_REFERENCE_YEAR: Final = 2022  # experience = 2022 - orgyear, as in the published cleaning
_CTC_MIN: Final = 2
_CTC_MAX: Final = 1_000_150_000

# --- frequent job titles: rows in the real file, experience tendency, pay offset (z units) ------
_TITLES: Final[tuple[tuple[str, int, float, float], ...]] = (
    ("Backend Engineer", 43_554, 0.05, 0.10),
    ("FullStack Engineer", 24_717, -0.05, 0.05),
    ("Other", 18_071, 0.10, -0.10),
    ("Frontend Engineer", 10_417, -0.20, -0.05),
    ("Engineering Leadership", 6_870, 1.40, 0.90),
    ("QA Engineer", 6_587, 0.00, -0.45),
    ("Data Scientist", 5_368, 0.10, 0.35),
    ("Android Engineer", 5_357, -0.10, 0.05),
    ("SDET", 4_967, -0.10, -0.15),
    ("Devops Engineer", 4_612, 0.00, 0.05),
    ("Support Engineer", 3_603, -0.20, -0.60),
    ("Data Analyst", 2_906, -0.40, -0.35),
    ("iOS Engineer", 2_746, 0.00, 0.10),
    ("Engineering Intern", 2_692, -1.40, -0.85),
    ("Product Designer", 1_314, 0.00, 0.00),
    ("Backend Architect", 1_287, 1.10, 0.80),
    ("Fullstack Engineer", 1_265, -0.05, 0.05),
    ("Research Engineers", 1_228, 0.20, 0.25),
    ("Product Manager", 1_161, 0.60, 0.45),
    ("Program Manager", 814, 0.80, 0.35),
    ("Non Coder", 595, 0.00, -0.50),
    ("Database Administrator", 552, 0.30, -0.20),
    ("Co-founder", 373, 0.80, 0.30),
    ("Security Leadership", 148, 1.30, 0.85),
    ("Release Engineer", 126, 0.20, 0.00),
    ("Senior  Software Engineer", 55, 0.60, 0.30),
    ("Software Engineer (Backend)", 42, 0.00, 0.10),
    ("Intern", 42, -1.50, -0.90),
    ("System Engineer", 39, -0.30, -0.40),
)
# learners without a title skew young and lower paid (the cleaned median is above the raw one)
_MISSING_TITLE_SENIORITY: Final = -0.35
_MISSING_TITLE_PAY: Final = -0.30

# the first rare titles, most frequent first; the rest are generated
_TAIL_SEEDS: Final[tuple[str, ...]] = (
    "Not Available",
    "SDE-1",
    "SDE2",
    "Software Engineer",
    "SDE 1",
    "ayS",
    "Senior Software Engineer",
    "SDE-2",
    "Software Developer",
    "Data Engineer",
    "Associate Software Engineer",
    "Technical Lead",
    "software engineer",
    "SDE1",
    "Team Lead",
    "Consultant",
    "Engineering Manager",
    "Student",
    "Java Developer",
    "Machine Learning Engineer",
)
_TAIL_BASES: Final[tuple[str, ...]] = (
    "Software Engineer",
    "Software Developer",
    "SDE",
    "Software Development Engineer",
    "Developer",
    "Engineer",
    "Data Engineer",
    "Technical Lead",
    "Tech Lead",
    "Team Lead",
    "Consultant",
    "Associate Consultant",
    "Analyst",
    "Business Analyst",
    "System Analyst",
    "Programmer Analyst",
    "Java Developer",
    "Python Developer",
    "Web Developer",
    "Full Stack Developer",
    "Frontend Developer",
    "Backend Developer",
    "Mobile Developer",
    "Application Developer",
    "Salesforce Developer",
    "SAP Consultant",
    "Test Engineer",
    "Automation Engineer",
    "Automation Tester",
    "ML Engineer",
    "Machine Learning Engineer",
    "AI Engineer",
    "Cloud Engineer",
    "Network Engineer",
    "Embedded Engineer",
    "Firmware Engineer",
    "Hardware Engineer",
    "Member of Technical Staff",
    "MTS",
    "Solution Architect",
    "Technical Architect",
    "Engineering Manager",
    "Project Manager",
    "Delivery Manager",
    "Product Owner",
    "Scrum Master",
    "Principal Engineer",
    "Staff Engineer",
    "Research Scientist",
    "Research Associate",
    "Graduate Engineer Trainee",
    "Trainee",
    "Fresher",
    "Student",
    "Intern",
    "Teaching Assistant",
    "Assistant Professor",
    "Lecturer",
    "Operations Executive",
    "Sales Executive",
    "Marketing",
    "HR",
    "Accountant",
    "CTO",
    "Founder",
    "Director",
    "VP Engineering",
    "Head of Engineering",
    "Site Reliability Engineer",
    "Database Developer",
    "ETL Developer",
    "BI Developer",
    "UI Developer",
    "UX Designer",
    "Game Developer",
    "Blockchain Developer",
    "Security Engineer",
    "IT Support",
    "Technical Support",
    "Customer Success",
)
_TAIL_PREFIXES: Final = ("", "", "", "Senior ", "Sr. ", "Sr ", "Junior ", "Lead ", "Associate ")
_TAIL_SUFFIXES: Final = ("", "", "", " 1", " 2", " I", " II", " III", "-1", "-2", "1", "2", " - 1")
_TAIL_JUNK: Final = ("ayS", "xyz", "abc", "Na", "-", ".", "..", "?", "Nil", "NONE", "no", "asd")
_NA_TOKENS: Final = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"}
    | {"<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
_SENIOR_WORDS: Final = ("lead", "manager", "head", "director", "vp", "cto", "founder", "principal")
_SENIOR_WORDS_2: Final = ("architect", "staff", "senior", "sr")
_JUNIOR_WORDS: Final = ("intern", "trainee", "student", "fresher", "junior", "jr", "associate")

# --- start years: rows per plausible orgyear in the real file (true years; junk is added later) --
_ORGYEAR_COUNTS: Final[dict[int, int]] = {
    1980: 25,
    1981: 30,
    1982: 35,
    1983: 40,
    1984: 45,
    1985: 50,
    1986: 55,
    1987: 60,
    1988: 65,
    1989: 70,
    1990: 80,
    1991: 85,
    1992: 90,
    1993: 100,
    1994: 110,
    1995: 120,
    1996: 140,
    1997: 160,
    1998: 190,
    1999: 230,
    2000: 290,
    2001: 740,
    2002: 720,
    2003: 1_050,
    2004: 1_510,
    2005: 1_950,
    2006: 2_150,
    2007: 2_330,
    2008: 2_780,
    2009: 3_880,
    2010: 5_750,
    2011: 7_830,
    2012: 10_180,
    2013: 11_900,
    2014: 15_700,
    2015: 20_610,
    2016: 23_043,
    2017: 23_239,
    2018: 25_256,
    2019: 23_427,
    2020: 12_500,
    2021: 4_300,
    2022: 1_500,
    2023: 350,
    2024: 100,
}
# impossible start years and their rows in the real-size table (one learner each row)
_ORGYEAR_JUNK: Final[dict[int, int]] = {
    0: 9,
    1: 20,
    2: 18,
    3: 22,
    4: 10,
    5: 14,
    6: 9,
    38: 1,
    83: 1,
    91: 1,
    200: 4,
    201: 6,
    206: 2,
    208: 2,
    209: 3,
    1900: 2,
    1970: 2,
    1971: 2,
    1972: 2,
    1973: 2,
    1976: 1,
    1977: 1,
    1979: 1,
    2025: 3,
    2026: 1,
    2029: 1,
    2101: 1,
    2107: 1,
    2204: 1,
    20165: 1,
}
# rows per CTC year in the real file
_CTC_YEAR_COUNTS: Final[dict[int, int]] = {
    2015: 2_927,
    2016: 5_501,
    2017: 7_561,
    2018: 6_746,
    2019: 68_688,
    2020: 49_444,
    2021: 64_976,
}
_LATE_START_WEIGHT: Final = 0.08  # relative odds of a CTC year before the start year

# --- pay: CTC quartiles per whole year of experience after the published cleaning -------------
# (years 1..22, 22 collects everything older); pay rises with experience and the spread widens
_CTC_P25: Final = (
    400_000, 450_000, 500_000, 500_000, 500_000, 560_000, 627_750, 700_000, 780_000, 900_000,
    1_000_000, 1_100_000, 1_100_000, 1_150_000, 1_120_000, 1_220_000, 1_370_000, 1_300_000,
    1_350_000, 1_200_000, 1_000_000, 1_000_000,
)  # fmt: skip
_CTC_P50: Final = (
    760_000, 770_000, 780_000, 800_000, 830_000, 900_000, 1_000_000, 1_100_000, 1_250_000,
    1_420_000, 1_550_000, 1_660_000, 1_700_000, 1_800_000, 2_000_000, 2_110_000, 2_430_000,
    2_500_000, 2_500_000, 2_700_000, 2_500_000, 2_650_000,
)  # fmt: skip
_CTC_P75: Final = (
    1_500_000, 1_360_000, 1_300_000, 1_400_000, 1_450_000, 1_550_000, 1_600_000, 1_800_000,
    2_000_000, 2_130_000, 2_300_000, 2_500_000, 2_600_000, 2_700_000, 3_000_000, 3_150_000,
    3_300_000, 3_450_000, 3_500_000, 3_600_000, 3_519_999, 3_900_000,
)  # fmt: skip
_CTC_QUARTILES: Final = (_CTC_P25, _CTC_P50, _CTC_P75)
_QUARTILE_Z: Final = 0.6745  # the upper quartile of a standard normal
_PAY_SHIFT: Final = -0.04  # log shift of the whole table (raw median 950k under the cleaned 1.04M)
_COMPANY_SD: Final = 0.7  # company pay level, in z units
_RESIDUAL_SD: Final = 0.72  # individual pay, in z units
_PACKAGE_SHARE: Final = 0.42  # learners on a standard package of their company
_PACKAGE_STEP: Final = 0.85  # packages sit at company level -step, 0, +step (z units)
_SNAPSHOT_DRIFT: Final = (-0.05, 0.12)  # log change of CTC between two snapshots: mean, sd
# yearly growth of the pay level of the market (log units): an assumption, see _record_year_shift
_PAY_GROWTH: Final = 0.07
# share of learners by how they write their CTC: 2 significant digits, to 10k, to 1k, "x9999", to 10
_ROUNDING_SHARES: Final = (0.75, 0.215, 0.021, 0.007, 0.007)
# junk CTCs, as a share of learners: tiny values (lakhs, thousands, monthly pay) and huge ones
_CTC_TINY_SHARE: Final = (0.0012, 0.0010, 0.0088)
_CTC_HUGE_SHARE: Final = 0.0105
_CTC_HUGE_LOG10: Final = (7.0, 8.48)

# --- companies: a letter-substitution cipher of plain names, heavy-tailed sizes ------------------
_CIPHER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "vmwatesyxlprbzguiqonhcfdjk")
_TOP_COMPANIES: Final[tuple[tuple[str, int, float], ...]] = (
    # name, rows in the real file, pay level (z units)
    ("nvnv wgzohrnvzwj otqcxwto", 8_337, -0.70),
    ("xzegojo", 5_381, -0.60),
    ("vbvkgz", 3_481, 0.90),
    ("zgn vuurxwvmrt vwwghzn", 3_411, -0.10),
    ("wgszxkvzn", 3_240, -0.55),
)
_KNOWN_COMPANIES: Final[tuple[str, ...]] = (
    "zgn vuurxwvmrt",
    "ihvrwgbb",
    "oxej ntwyzgrgsxto rxbxnta",
    "ngpgutaxv",
    "qtrxvzwt xzegwgbb rxbxnta",
    "hmtq",
    "ztfstz ogenfvqt",
    "btzngq oxtbtzo mhoxztoo",
    "qxv vacxogqj",
    "zgzt",
    "ztn ogrhnxgzo",
    "bvi ogenfvqt",
    "tj",
    "egxft xzeg srgmvr ogrhnxgz ucn rna",
    "wvatzwt atoxsz ojontbo",
    "rn ntwyzgrgsj otqcxwto rxbxnta",
    "qfo",
    "utqoxontzn ojontbo",
    "zetqtzwt",
    "hztburgjta",
    "opxavnv vs",
    "srgmvr vzvrjnxwo",
    "onqxatvx xzw",
    "ourxztvx",
    "mvzp ge vbtqxwv",
    "ovuxtzn wgzohrnxzs",
    "bwbvprtq",
    "btaxvntp xzaxv uqxcvnt rxbxnta",
    "vzgnytq wgbuvzj",
    "mgra wgbuvzj",
    "troutwnqv",
    "hzxej ntwyzgrgsxto",
    "exatrxnj xzctonbtzno",
    "ctqot",
    "btaxvztn",
    "tcxct ogenfvqt vzvrjnxwo",
    "husqvawgb",
    "vwwgrxnt",
    "bgqsvz onvzrtj",
    "wxowg",
    "vowtzv",
    "sggsrt",
    "uyxrxuo",
    "lubgqsvz wyvot wg",
    "fyvnexd",
    "xatbxv",
)
_SIXTH_COMPANY_ROWS: Final = 2_600  # rows of the sixth largest company
_COMPANY_EXPONENT: Final = 1.1  # then learners per company fall as a power of the rank
_NAME_SYLLABLES: Final = (
    "ac", "al", "an", "ar", "ax", "be", "bi", "bo", "by", "ca", "ce", "ci", "co", "cu", "da", "de",
    "di", "do", "ed", "el", "en", "ex", "fa", "fi", "fo", "ga", "ge", "gi", "go", "ha", "he", "hi",
    "ho", "hu", "in", "io", "ja", "ka", "ke", "ki", "ko", "la", "le", "li", "lo", "lu", "ma", "me",
    "mi", "mo", "mu", "na", "ne", "ni", "no", "nu", "ob", "om", "on", "or", "pa", "pe", "pi", "po",
    "qu", "ra", "re", "ri", "ro", "ru", "sa", "se", "si", "so", "su", "ta", "te", "ti", "to", "tu",
    "ul", "un", "va", "ve", "vi", "vo", "wa", "we", "wi", "ya", "yo", "za", "ze", "zo",
)  # fmt: skip
_NAME_STEMS: Final = (
    "tech", "soft", "info", "data", "net", "cloud", "byte", "logic", "mind", "tree", "nova",
    "wave", "sys", "code", "smart", "bit", "link", "core", "zen", "hub", "cube", "matrix", "pixel",
    "quant", "mark", "flow", "sense", "star", "sky", "fin", "pay", "med", "edu", "shop", "kart",
    "trip", "food", "ride", "home", "health", "learn", "ai", "works", "verse", "ify", "ly",
    "metric", "gen", "bank", "care", "fix", "sure", "mart",
)  # fmt: skip
_NAME_WORDS: Final = (
    "technologies", "solutions", "software", "services", "systems", "labs", "consulting",
    "consultancy services", "infotech", "india", "global", "digital", "analytics", "networks",
    "technology", "corporation", "group", "bank", "university", "institute of technology",
    "college of engineering", "foods", "healthcare", "media", "ventures", "capital", "motors",
    "retail", "communications", "semiconductors", "research", "innovations", "it services",
    "engineering", "payments", "finance", "infosystems", "interactive", "studios", "automation",
)  # fmt: skip
_NAME_LEGAL: Final = ("pvt ltd", "private limited", "limited", "inc", "llp", "ltd", "india pvt ltd")


def generate_learners(rows: int = FILE_ROWS, seed: int = 0) -> pd.DataFrame:
    """Generate a seeded raw learner table shaped like the real case-study file.

    Parameters
    ----------
    rows : int, default 205_843
        Number of rows (at least 100). Every count of the real file (learners, repeated
        learners, companies, titles, missing values, junk) is scaled by ``rows / 205_843``.
    seed : int, default 0
        Seed of the random generator; the same seed gives the same frame.

    Returns
    -------
    pandas.DataFrame of shape (rows, 7)
        Columns :data:`~training.runtime.schema.FILE_COLUMNS`: ``Unnamed: 0`` (int64, sorted,
        unique, with gaps),
        ``company_hash`` (str, NaN for missing), ``email_hash`` (str, 64 hex digits),
        ``orgyear`` (float64, NaN for missing), ``ctc`` (int64), ``job_position`` (str, NaN for
        missing) and ``ctc_updated_year`` (float64).

    Raises
    ------
    ValueError
        If ``rows`` is below 100.
    """
    if rows < 100:
        raise ValueError(f"rows must be at least 100, got {rows}.")
    rng = np.random.default_rng(seed)
    scale = rows / _FULL_ROWS
    # Every step draws from the one generator, in this order: reordering them changes the table.
    layout = _lay_out_learners(rows, scale, rng)
    career = _draw_careers(layout.sizes.size, rng)
    # junk CTCs are decided first: those learners keep a single snapshot
    junk_ctc = _draw_ctc_junk(layout.sizes.size, layout.extremes, rng)
    split, snapshot = _draw_snapshots(layout, junk_ctc, rng)
    titles, title_codes, title_pay = _assign_titles(
        rows,
        scale,
        career.experience,
        layout.learner,
        layout.position,
        snapshot,
        split,
        layout.sizes,
        rng,
    )
    company_names, company_pay, company_of = _assign_companies(
        scale, layout.sizes, layout.no_company, rng
    )
    pay = _draw_pay(
        layout,
        career,
        title_codes,
        title_pay,
        company_pay,
        company_of,
        junk_ctc,
        rng,
    )
    # exact duplicate rows: a title repeated within one snapshot of one learner
    title_codes = _plant_duplicates(title_codes, layout.learner, snapshot, scale, rng)

    # rows: shuffle, then a sorted gappy "Unnamed: 0" like the real file
    order = rng.permutation(rows)
    learner, second = layout.learner[order], snapshot[order] == 1
    emails = _email_hashes(layout.sizes.size, rng)
    return pd.DataFrame(
        {
            INDEX_COLUMN: _row_ids(rows, scale, rng),
            "company_hash": _take_text(company_names, company_of[learner]),
            "email_hash": pd.array(emails[learner], dtype="str"),
            "orgyear": _shown_years(career.true_year, layout)[learner],
            "ctc": np.where(second, pay.ctc_2[learner], pay.ctc[learner]).astype(np.int64),
            "job_position": _take_text(titles, title_codes[order]),
            "ctc_updated_year": np.where(
                second, pay.ctc_year_2[learner], pay.ctc_year[learner]
            ).astype(np.float64),
        },
        columns=list(FILE_COLUMNS),
    )


def write_learners(df: pd.DataFrame, path: Path) -> Path:
    """Write a learner table atomically as CSV, gzip-compressed CSV or Parquet.

    The format follows the name: ``.csv``, ``.csv.gz`` or ``.parquet``. Parent folders are
    created; the table is written to a temporary file in the same folder and moved into place,
    so readers never see half a file. CSV is written without the pandas index (``Unnamed: 0``
    is a real column of the frame).

    Parameters
    ----------
    df : pandas.DataFrame
        The table, for example from :func:`generate_learners`.
    path : pathlib.Path
        Destination file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the name ends in none of the supported suffixes.
    """
    path = Path(path)
    name = path.name.lower()
    if not name.endswith((".csv", ".csv.gz", ".parquet")):
        raise ValueError(f"Cannot tell the format of {path.name!r}: use .csv, .csv.gz or .parquet.")
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh hidden name in the same folder (same file system, so the rename is atomic)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        if name.endswith(".parquet"):
            df.to_parquet(temp, index=False)
        elif name.endswith(".gz"):
            # no file name and mtime 0 in the gzip header: the same table gives the same bytes
            with (
                temp.open("wb") as raw,
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
                io.TextIOWrapper(packed, encoding="utf-8", newline="") as text,
            ):
                df.to_csv(text, index=False)
        else:
            df.to_csv(temp, index=False)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


# --- the steps of generate_learners ------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Learners and their rows before the shuffle (the rows of one learner are contiguous)."""

    sizes: IntArray  # rows per learner
    learner: IntArray  # the learner of each row
    position: IntArray  # the row's position among its learner's rows
    no_company: IntArray  # single-row learners without a company
    no_year: IntArray  # single-row learners without a start year
    junk_year: IntArray  # single-row learners with an impossible start year
    junk_years: dict[int, int]  # the impossible years and how many learners write each
    extremes: IntArray  # the two single-row learners with the smallest and largest CTC


@dataclass(frozen=True)
class _Career:
    """Per learner: the hidden true start year, years of experience and the CTC's year."""

    true_year: IntArray
    experience: IntArray
    ctc_year: IntArray


@dataclass(frozen=True)
class _Pay:
    """Per learner: CTC and its year, and those of a second snapshot (for learners with one)."""

    ctc: IntArray
    ctc_year: IntArray
    ctc_2: IntArray
    ctc_year_2: IntArray


def _lay_out_learners(rows: int, scale: float, rng: np.random.Generator) -> _Layout:
    """Rows per learner, and the single-row learners that carry the nulls and extreme values."""
    sizes = _learner_sizes(rows, scale, rng)
    learner = np.repeat(np.arange(sizes.size), sizes)
    position = np.arange(rows) - (np.cumsum(sizes) - sizes)[learner]
    # single-row learners that carry the nulls and the extreme values, in this order
    reserved = rng.permutation(np.flatnonzero(sizes == 1))
    n_no_company = _scaled(_FULL_NULL_COMPANY, scale)
    n_no_year = _scaled(_FULL_NULL_ORGYEAR, scale)
    junk_years = _scaled_counts(_ORGYEAR_JUNK, scale, rng)
    n_junk_years = sum(junk_years.values())
    return _Layout(
        sizes=sizes,
        learner=learner,
        position=position,
        no_company=reserved[:n_no_company],
        no_year=reserved[n_no_company : n_no_company + n_no_year],
        junk_year=reserved[n_no_company + n_no_year : n_no_company + n_no_year + n_junk_years],
        junk_years=junk_years,
        extremes=reserved[-2:],
    )


def _year_shares() -> tuple[IntArray, FloatArray]:
    """The start years of the real file, sorted, and the share of rows of each."""
    years = np.array(sorted(_ORGYEAR_COUNTS), dtype=np.int64)
    year_p = np.array([_ORGYEAR_COUNTS[y] for y in years], dtype=np.float64)
    year_p /= year_p.sum()
    return years, year_p


def _draw_careers(n_learners: int, rng: np.random.Generator) -> _Career:
    """Each learner's hidden true start year (it drives pay), experience and CTC year."""
    years, year_p = _year_shares()
    true_year = years[_draw(rng, year_p, n_learners)]
    experience = np.clip(_REFERENCE_YEAR - true_year, 1, len(_CTC_P50))
    ctc_year = _draw_ctc_years(true_year, years, year_p, rng)
    return _Career(true_year=true_year, experience=experience, ctc_year=ctc_year)


def _draw_snapshots(
    layout: _Layout, junk_ctc: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """A second snapshot (another CTC, sometimes a year earlier) for some repeated learners.

    Returns each learner's first row of the second snapshot (past its last row: none) and each
    row's snapshot (0 or 1).
    """
    sizes = layout.sizes
    n_learners = sizes.size
    split = np.where(
        (sizes > 1) & (junk_ctc == 0) & (rng.random(n_learners) < _SPLIT_SHARE),
        1 + np.floor(rng.random(n_learners) * (sizes - 1)).astype(np.int64),
        np.int64(_MAX_ROWS_PER_LEARNER + 1),
    )
    snapshot = (layout.position >= split[layout.learner]).astype(np.int64)
    return split, snapshot


def _draw_pay(
    layout: _Layout,
    career: _Career,
    title_codes: IntArray,
    title_pay: FloatArray,
    company_pay: FloatArray,
    company_of: IntArray,
    junk_ctc: IntArray,
    rng: np.random.Generator,
) -> _Pay:
    """CTC: the experience quartiles of the cleaned file, moved by company, role and person.

    A package cohort (company, start year, band) also updated its CTC in the same year; junk CTCs
    replace the drawn ones; a second snapshot drifts from the first and is often a year older.
    """
    learner, sizes = layout.learner, layout.sizes
    n_learners = sizes.size
    true_year, experience = career.true_year, career.experience
    # each learner's pay offset from its titles, and its company's pay level
    row_pay = np.where(title_codes >= 0, title_pay[np.maximum(title_codes, 0)], _MISSING_TITLE_PAY)
    role_pay = np.bincount(learner, weights=row_pay, minlength=n_learners) / sizes
    pay_level = np.where(company_of >= 0, company_pay[np.maximum(company_of, 0)], 0.0)
    titled = np.bincount(learner, weights=title_codes >= 0, minlength=n_learners) > 0

    z, package, cohort = _pay_scores(experience, role_pay, titled, pay_level, company_of, rng)
    style = np.where(package, 0, _draw(rng, np.asarray(_ROUNDING_SHARES), n_learners))
    years, year_p = _year_shares()
    cohort_id = cohort * len(years) + np.searchsorted(years, true_year)
    _, first, inverse = np.unique(cohort_id, return_index=True, return_inverse=True)
    cohort_year = _draw_ctc_years(true_year[first], years, year_p, rng)
    ctc_year = np.where(package, cohort_year[inverse], career.ctc_year)
    # the CTC of the year it was recorded: the learner's experience and the pay level of then
    at_record = _record_year_shift(true_year, ctc_year)
    raw_ctc = _ctc_from_scores(z, experience) * np.exp(at_record)
    ctc = _apply_ctc_junk(_round_ctc(raw_ctc, style), junk_ctc, layout.extremes, rng)

    drift = np.exp(rng.normal(_SNAPSHOT_DRIFT[0], _SNAPSHOT_DRIFT[1], n_learners))
    ctc_year_2 = np.maximum(ctc_year - (rng.random(n_learners) < 0.5), min(_CTC_YEAR_COUNTS))
    earlier = np.exp(_record_year_shift(true_year, ctc_year_2) - at_record)
    ctc_2 = _round_ctc(raw_ctc * earlier * drift, style)
    step = np.maximum(10 ** np.floor(np.log10(np.maximum(ctc, 1))).astype(np.int64) // 10, 1)
    ctc_2 = np.where(ctc_2 == ctc, ctc - step, ctc_2)
    return _Pay(ctc=ctc, ctc_year=ctc_year, ctc_2=ctc_2, ctc_year_2=ctc_year_2)


def _record_year_shift(true_year: IntArray, ctc_year: IntArray) -> FloatArray:
    """Log shift of a CTC recorded in ``ctc_year`` from the learner's 2022-experience median.

    A CTC recorded in year Y reflects the learner's experience in Y (Y - start year, on the
    median curve of the published table, made non-decreasing) and the pay level of Y (the
    market grew ``_PAY_GROWTH`` a year: an assumption, the real file publishes no such figure).
    The shift is centred within each start year over the CTC years learners of that start year
    record (:func:`_ctc_year_shares`), so the median CTC per year of experience counted to 2022,
    which the published table gives, still holds.
    """
    years, year_p = _year_shares()
    ctc_years = _ctc_years()
    curve = np.maximum.accumulate(np.log(np.asarray(_CTC_P50, dtype=np.float64)))

    def shift(start: IntArray, recorded: IntArray) -> FloatArray:
        experience = np.clip(_REFERENCE_YEAR - start, 1, len(curve))
        at_record = np.clip(experience - (_REFERENCE_YEAR - recorded), 1, len(curve))
        out: FloatArray = curve[at_record - 1] - curve[experience - 1]
        return out + _PAY_GROWTH * (recorded - _REFERENCE_YEAR)

    every = shift(years[:, None], ctc_years[None, :])
    centre = (_ctc_year_shares(years, year_p) * every).sum(axis=1)
    out: FloatArray = shift(true_year, ctc_year) - centre[np.searchsorted(years, true_year)]
    return out


def _shown_years(true_year: IntArray, layout: _Layout) -> FloatArray:
    """The start year written: the true year, junk for a few single-row learners, else missing."""
    shown = true_year.astype(np.float64)
    shown[layout.junk_year] = np.repeat(
        np.array(list(layout.junk_years), dtype=np.float64), list(layout.junk_years.values())
    )
    shown[layout.no_year] = np.nan
    return shown


# --- helpers -------------------------------------------------------------------------------------


def _scaled(full: int, scale: float) -> int:
    return round(full * scale)


def _scaled_counts(full: dict[int, int], scale: float, rng: np.random.Generator) -> dict[int, int]:
    """Scale small counts by stochastic rounding (exact at scale 1, present on average below)."""
    values = np.array(list(full.values()), dtype=np.float64) * scale
    counts = np.floor(values) + (rng.random(values.size) < values - np.floor(values))
    return {key: int(c) for key, c in zip(full, counts, strict=True)}


def _draw(rng: np.random.Generator, p: FloatArray, size: int) -> IntArray:
    """Draw ``size`` category indices with probabilities ``p`` (inverse CDF, vectorised)."""
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), p.size - 1).astype(
        np.int64
    )


def _largest_remainder(weights: FloatArray, total: int) -> IntArray:
    """Integer counts proportional to ``weights`` that add up to ``total`` exactly."""
    quota = weights / weights.sum() * total
    counts: IntArray = np.floor(quota).astype(np.int64)
    short = total - int(counts.sum())
    if short > 0:
        counts[np.argsort(-(quota - counts), kind="stable")[:short]] += 1
    return counts


def _learner_sizes(rows: int, scale: float, rng: np.random.Generator) -> IntArray:
    """Rows per learner: mostly one, repeated learners 2..10 with a geometric tail."""
    n_learners = _scaled(_FULL_LEARNERS, scale)
    n_repeated = _scaled(_FULL_REPEATED, scale)
    repeated_rows = rows - (n_learners - n_repeated)
    ks = np.arange(2, _MAX_ROWS_PER_LEARNER + 1)
    lo, hi = 1e-6, 0.999
    for _ in range(60):  # ratio of the geometric tail so that the mean group size is right
        ratio = (lo + hi) / 2
        p = ratio ** (ks - 2.0)
        if float((ks * p).sum() / p.sum()) < repeated_rows / n_repeated:
            lo = ratio
        else:
            hi = ratio
    counts = np.floor(n_repeated * p / p.sum()).astype(np.int64)
    counts[-1] = max(counts[-1], 1)  # the real file has a learner on 10 rows
    counts[0] += n_repeated - int(counts.sum())
    # move groups one size up (or down) until the rows add up exactly; the 10-row one goes last
    surplus = repeated_rows - int((ks * counts).sum())
    while surplus != 0:
        if surplus > 0:
            movable = [i for i in range(ks.size - 1) if counts[i] > 0]
            i, j = (movable[0], movable[0] + 1) if movable else (-1, -1)
        else:
            movable = [i for i in range(1, ks.size - 1) if counts[i] > 0]
            movable = movable or [i for i in (ks.size - 1,) if counts[i] > 0]
            i, j = (movable[-1], movable[-1] - 1) if movable else (-1, -1)
        if i < 0:
            raise ValueError(f"Cannot lay out {rows} rows over {n_learners} learners.")
        moved = min(abs(surplus), int(counts[i]))
        counts[i] -= moved
        counts[j] += moved
        surplus -= moved if surplus > 0 else -moved
    sizes = np.concatenate(
        [np.ones(n_learners - n_repeated, dtype=np.int64), np.repeat(ks, counts)]
    )
    return np.asarray(rng.permutation(sizes), dtype=np.int64)


def _ctc_years() -> IntArray:
    """The CTC years of the real file, sorted."""
    return np.array(sorted(_CTC_YEAR_COUNTS), dtype=np.int64)


def _ctc_year_shares(years: IntArray, year_p: FloatArray) -> FloatArray:
    """Share of each CTC year given each start year (rows: ``years``, columns: the CTC years).

    A CTC is rarely recorded before the learner started working; the marginal shares are the
    real file's (iterative proportional fitting of the year weights).
    """
    ctc_years = _ctc_years()
    target = np.array([_CTC_YEAR_COUNTS[y] for y in ctc_years], dtype=np.float64)
    target /= target.sum()
    allowed = np.where(ctc_years[None, :] >= years[:, None], 1.0, _LATE_START_WEIGHT)
    weights = target.copy()
    for _ in range(200):
        cond = allowed * weights
        cond /= cond.sum(axis=1, keepdims=True)
        weights *= target / (year_p @ cond)
    cond = allowed * weights
    out: FloatArray = cond / cond.sum(axis=1, keepdims=True)
    return out


def _draw_ctc_years(
    true_year: IntArray, years: IntArray, year_p: FloatArray, rng: np.random.Generator
) -> IntArray:
    """CTC year given the start year: rarely before it, marginal shares as in the real file."""
    ctc_years = _ctc_years()
    cdf = np.cumsum(_ctc_year_shares(years, year_p), axis=1)
    row = np.searchsorted(years, true_year)
    u = rng.random(true_year.size)[:, None]
    pick = np.minimum((u >= cdf[row]).sum(axis=1), ctc_years.size - 1)
    return np.asarray(ctc_years[pick], dtype=np.int64)


def _pay_scores(
    experience: IntArray,
    role_pay: FloatArray,
    titled: BoolArray,
    pay_level: FloatArray,
    company_of: IntArray,
    rng: np.random.Generator,
) -> tuple[FloatArray, BoolArray, IntArray]:
    """Pay score of each learner (z units, median 0 among learners with a title).

    Score = company level + role offset + personal residual. Role offsets are centred within
    each experience year, so the experience quartiles hold while roles still differ at equal
    experience. Some learners are on a standard package of their company (campus hires, pay
    bands): company level +- a band step, no personal part. Returns the scores, who is on a
    package and a cohort id (company and band) for them.
    """
    n = experience.size
    k = experience - 1
    sums = np.bincount(k[titled], weights=role_pay[titled], minlength=len(_CTC_P50))
    role_mean = sums / np.maximum(np.bincount(k[titled], minlength=len(_CTC_P50)), 1)
    z = pay_level + role_pay - role_mean[k] + rng.normal(0.0, _RESIDUAL_SD, n)
    package = (rng.random(n) < _PACKAGE_SHARE) & (company_of >= 0)
    band = rng.integers(0, 3, n)
    z = np.where(package, pay_level + (band - 1) * _PACKAGE_STEP, z)
    z -= np.median(z[titled])
    return z, package, company_of * 3 + band


def _ctc_from_scores(z: FloatArray, experience: IntArray) -> FloatArray:
    """CTC from a pay score: the cleaned file's quartiles for that experience (split normal)."""
    p25, p50, p75 = (np.log(np.asarray(q, dtype=np.float64)) for q in _CTC_QUARTILES)
    k = experience - 1
    spread = np.where(z > 0, p75[k] - p50[k], p50[k] - p25[k]) / _QUARTILE_Z
    return np.exp(p50[k] + _PAY_SHIFT + z * spread)


def _tail_titles(n: int, rng: np.random.Generator) -> list[str]:
    """Rare, messy free-text titles: levels, prefixes, case, double spaces, punctuation, junk."""
    frequent = {t[0] for t in _TITLES}
    out: list[str] = []
    seen: set[str] = set()

    def keep(title: str) -> None:
        if title not in seen and title not in frequent and title not in _NA_TOKENS:
            seen.add(title)
            out.append(title)

    for title in _TAIL_SEEDS:
        keep(title)
    while len(out) < n:
        roll = rng.random()
        if roll < 0.03:
            keep(str(rng.choice(_TAIL_JUNK)) + str(rng.choice(["", "", "1", ".", "!"])))
            continue
        title = (
            str(rng.choice(_TAIL_PREFIXES))
            + str(rng.choice(_TAIL_BASES))
            + str(rng.choice(_TAIL_SUFFIXES))
        )
        mess = rng.random()
        if mess < 0.18:
            title = title.lower()
        elif mess < 0.24:
            title = title.upper()
        elif mess < 0.32:
            title = title.replace(" ", "  ", 1)
        elif mess < 0.38:
            title = title + str(rng.choice([".", ",", " -", " /", "!", " (WFH)", " & Mentor"]))
        elif mess < 0.42:
            title = title.replace(" ", "-")
        elif mess < 0.45:
            title = title.replace(" ", "")
        keep(title)
    return out[:n]


def _title_traits(title: str) -> tuple[float, float]:
    """Experience tendency and pay offset of a rare title, from its words."""
    words = title.lower().replace(".", " ").replace("-", " ").split()
    if any(w in _JUNIOR_WORDS for w in words):
        return -1.0, -0.6
    if any(w in _SENIOR_WORDS for w in words):
        return 1.0, 0.6
    if any(w in _SENIOR_WORDS_2 for w in words):
        return 0.6, 0.35
    return 0.0, 0.0


def _assign_titles(
    rows: int,
    scale: float,
    experience: IntArray,
    learner: IntArray,
    position: IntArray,
    snapshot: IntArray,
    split: IntArray,
    sizes: IntArray,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.object_], IntArray, FloatArray]:
    """Give every row a title code (-1 = missing) with the real file's title counts.

    The multiset of titles is fixed by the scaled counts; it is matched to rows by a noisy
    ranking on experience (interns young, leadership senior), the rows of a second snapshot
    repeat the titles of the first, and titles that repeat within a snapshot are swapped with
    single-row learners until every snapshot lists distinct titles.
    """
    n_missing = _scaled(_FULL_NULL_TITLE, scale)
    frequent_full = np.array([t[1] for t in _TITLES], dtype=np.float64)
    tail_rows_full = _FULL_ROWS - _FULL_NULL_TITLE - int(frequent_full.sum())
    weights = np.append(frequent_full, tail_rows_full)
    counts = _largest_remainder(weights, rows - n_missing)
    tail_rows = int(counts[-1])
    n_tail = min(_scaled(_FULL_TAIL_TITLES, scale), tail_rows)
    tail = _tail_titles(n_tail, rng)
    tail_counts = _tail_counts(n_tail, tail_rows)
    if n_tail == 0:  # tiny tables: the rare rows go to the most frequent title
        counts[0] += tail_rows
    titles = np.array([t[0] for t in _TITLES] + tail, dtype=object)
    traits = [(t[2], t[3]) for t in _TITLES] + [_title_traits(t) for t in tail]
    seniority = np.array([s for s, _ in traits], dtype=np.float64)
    pay = np.array([p for _, p in traits], dtype=np.float64)
    all_counts = np.concatenate([counts[:-1], tail_counts, [n_missing]])
    codes_pool = np.repeat(np.append(np.arange(titles.size), -1), all_counts).astype(np.int64)
    pool_seniority = np.append(seniority, _MISSING_TITLE_SENIORITY)[codes_pool]

    # noisy rank matching: experience of the row's learner against the title's tendency
    exp = np.log(experience.astype(np.float64))
    exp = (exp - exp.mean()) / exp.std()
    row_key = exp[learner] + rng.normal(0.0, 0.9, rows)
    pool_key = pool_seniority + rng.normal(0.0, 0.6, rows)
    codes = np.empty(rows, dtype=np.int64)
    codes[np.argsort(row_key, kind="stable")] = codes_pool[np.argsort(pool_key, kind="stable")]

    # a second snapshot repeats the titles of the first, in order
    row_split = split[learner]
    copy = (snapshot == 1) & (position - row_split < row_split)
    source = np.flatnonzero(copy)
    codes[source] = codes[source - row_split[source]]
    # copying shifted the title counts: give the lost titles back to single-row learners
    single_rows = np.flatnonzero(sizes[learner] == 1)
    surplus = np.bincount(codes + 1, minlength=titles.size + 1) - np.bincount(
        codes_pool + 1, minlength=titles.size + 1
    )
    shuffled = rng.permutation(single_rows)
    by_code = shuffled[np.argsort(codes[shuffled], kind="stable")]
    held = codes[by_code] + 1
    rank = np.arange(by_code.size) - np.searchsorted(held, held)
    give_up = by_code[rank < np.maximum(surplus, 0)[held]]
    lost = np.repeat(np.arange(-1, titles.size), np.maximum(-surplus, 0))
    n_back = min(give_up.size, lost.size)
    codes[give_up[:n_back]] = rng.permutation(lost)[:n_back]

    # distinct titles within each snapshot: swap repeats with single-row learners
    group = learner * 2 + snapshot
    for _ in range(50):
        key = group * (titles.size + 1) + codes + 1
        order = np.argsort(key, kind="stable")
        repeat = np.zeros(rows, dtype=bool)
        repeat[order[1:]] = key[order[1:]] == key[order[:-1]]
        bad = np.flatnonzero(repeat & (sizes[learner] > 1))
        if bad.size == 0:
            break
        partner = rng.choice(single_rows, size=bad.size, replace=False)
        codes[bad], codes[partner] = codes[partner], codes[bad].copy()
    return titles, codes, pay


def _tail_counts(n_titles: int, total: int) -> IntArray:
    """Rows per rare title: a Zipf-like fall from at most 38 rows to single rows."""
    if n_titles == 0:
        return np.zeros(0, dtype=np.int64)
    top = min(38.0, float(total - n_titles + 1))
    rank = np.arange(1, n_titles + 1, dtype=np.float64)
    lo, hi = 0.0, 8.0
    for _ in range(60):
        a = (lo + hi) / 2
        if np.maximum(1.0, np.round(top * rank**-a)).sum() > total:
            lo = a
        else:
            hi = a
    counts = np.maximum(1, np.round(top * rank**-hi)).astype(np.int64)
    counts[0] += total - int(counts.sum())  # exact total; the first title absorbs the rest
    return counts


def _plant_duplicates(
    codes: IntArray,
    learner: IntArray,
    snapshot: IntArray,
    scale: float,
    rng: np.random.Generator,
) -> IntArray:
    """Copy the title of the row before onto a few rows: exact duplicate rows."""
    n = _scaled(_FULL_EXACT_DUPLICATES, scale)
    follows = 1 + np.flatnonzero((learner[1:] == learner[:-1]) & (snapshot[1:] == snapshot[:-1]))
    # at most one planted duplicate per snapshot, so the count is exact
    _, first = np.unique(learner[follows] * 2 + snapshot[follows], return_index=True)
    candidates = follows[first]
    chosen = rng.choice(candidates, size=min(n, candidates.size), replace=False)
    out = codes.copy()
    out[chosen] = out[chosen - 1]
    return out


def _assign_companies(
    scale: float, sizes: IntArray, no_company: IntArray, rng: np.random.Generator
) -> tuple[npt.NDArray[np.object_], FloatArray, IntArray]:
    """Company names, their pay levels (z units) and each learner's company (-1 = missing)."""
    n_learners = sizes.size
    n_top = len(_TOP_COMPANIES)
    n_companies = max(n_top + 10, _scaled(_FULL_COMPANIES, scale))
    n_variants = _scaled(_FULL_COMPANY_VARIANTS, scale)
    n_numeric = max(1, _scaled(_FULL_NUMERIC_COMPANIES, scale))

    # names by rank: the profile's top five, names seen in the real rows, generated names
    fixed = [c[0] for c in _TOP_COMPANIES] + list(_KNOWN_COMPANIES)
    fixed = fixed[: max(n_top, n_companies - n_variants - n_numeric - 1)]
    n_base = n_companies - n_variants - n_numeric
    base = fixed + _company_names(n_base - len(fixed), set(fixed), rng)
    pay = rng.normal(0.0, _COMPANY_SD, n_base)
    pay[:n_top] = [c[2] for c in _TOP_COMPANIES]
    # variants (punctuation, case, spacing) of other companies share their pay level
    source = rng.choice(np.arange(n_top, n_base), size=n_variants, replace=False)
    taken = set(base)
    variants: list[str] = []
    for i in source:
        name = _mess_company(base[i], rng)
        while name in taken:
            name = _mess_company(base[i], rng)
        taken.add(name)
        variants.append(name)
    numeric = _numeric_companies(n_numeric, taken, rng)
    names = np.array(base + variants + numeric, dtype=object)
    pay = np.concatenate([pay, pay[source], rng.normal(0.0, _COMPANY_SD, n_numeric)])
    # odd names sit in the tail, at random ranks
    tail_start = min(len(fixed) + 100, n_base)
    order = np.concatenate(
        [np.arange(tail_start), tail_start + rng.permutation(n_companies - tail_start)]
    )
    names, pay = names[order], pay[order]

    # learners per company: the top five as in the real file, then a power law
    has_company = np.ones(n_learners, dtype=bool)
    has_company[no_company] = False
    n_has = int(has_company.sum())
    per_learner = scale / sizes.mean()
    top = np.maximum(1, np.round(np.array([c[1] for c in _TOP_COMPANIES]) * per_learner))
    rest = _power_law_sizes(
        n_companies - n_top,
        n_has - int(top.sum()),
        max(1.0, _SIXTH_COMPANY_ROWS * per_learner),
        _COMPANY_EXPONENT,
    )
    slots = np.repeat(np.arange(n_companies), np.concatenate([top.astype(np.int64), rest]))
    company_of = np.full(n_learners, -1, dtype=np.int64)
    company_of[rng.permutation(np.flatnonzero(has_company))] = slots[:n_has]
    return names, pay, company_of


def _power_law_sizes(n: int, total: int, first: float, exponent: float) -> IntArray:
    """``n`` sizes ``1 + floor(A * (rank + shift) ** -exponent)`` adding up to ``total``.

    ``A`` makes the sizes add up; ``shift`` flattens the head so the largest is about ``first``.
    """

    def sizes(shift: float) -> IntArray:
        weight = (np.arange(1, n + 1, dtype=np.float64) + shift) ** -exponent
        lo, hi = 0.0, float(max(total, 1)) * (1.0 + shift) ** exponent
        for _ in range(80):
            mid = (lo + hi) / 2
            if n + np.floor(mid * weight).sum() > total:
                hi = mid
            else:
                lo = mid
        return 1 + np.floor(lo * weight).astype(np.int64)

    lo, hi = 0.0, float(n)
    for _ in range(40):
        mid = (lo + hi) / 2
        if sizes(mid)[0] > first:
            lo = mid
        else:
            hi = mid
    out = sizes(hi)
    out[0] += total - int(out.sum())
    return out


def _company_names(n: int, taken: set[str], rng: np.random.Generator) -> list[str]:
    """``n`` distinct enciphered company names, none in ``taken``."""
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        m = int((n - len(out)) * 1.3) + 50
        syl = np.array(_NAME_SYLLABLES, dtype=object)
        stems = np.array(_NAME_STEMS, dtype=object)
        words = np.array(_NAME_WORDS, dtype=object)
        legal = np.array(_NAME_LEGAL, dtype=object)
        shape = rng.random(m)
        first = np.where(
            shape < 0.45,
            syl[rng.integers(0, syl.size, m)] + syl[rng.integers(0, syl.size, m)],
            np.where(
                shape < 0.7,
                syl[rng.integers(0, syl.size, m)] + stems[rng.integers(0, stems.size, m)],
                np.where(
                    shape < 0.85,
                    syl[rng.integers(0, syl.size, m)]
                    + syl[rng.integers(0, syl.size, m)]
                    + syl[rng.integers(0, syl.size, m)],
                    stems[rng.integers(0, stems.size, m)] + syl[rng.integers(0, syl.size, m)],
                ),
            ),
        )
        form = rng.random(m)
        word = words[rng.integers(0, words.size, m)]
        law = legal[rng.integers(0, legal.size, m)]
        plain = np.where(
            form < 0.42,
            first,
            np.where(
                form < 0.72,
                first + " " + word,
                np.where(form < 0.9, first + " " + word + " " + law, first + " " + law),
            ),
        )
        for name in pd.Series(plain, dtype=object).str.translate(_CIPHER):
            if name not in seen:
                seen.add(name)
                out.append(name)
    return out[:n]


def _mess_company(name: str, rng: np.random.Generator) -> str:
    """A variant of a company name that a regex clean-up maps back to it."""
    roll = rng.random()
    if roll < 0.25 and " " in name:
        return name.replace(" ", "  ", 1)
    if roll < 0.45:
        return name + str(rng.choice([".", " .", ",", "!", " -"]))
    if roll < 0.6:
        return name.capitalize()
    if roll < 0.7:
        return name.upper()
    if roll < 0.85 and " " in name:
        return name.replace(" ", " & ", 1)
    return str(rng.choice(["'", '"', "("])) + name + str(rng.choice(["'", '"', ")"]))


def _numeric_companies(n: int, taken: set[str], rng: np.random.Generator) -> list[str]:
    """Company names of digits, alone or before a word (``'2020'``, ``'0'``, ``'247 xrvm'``)."""
    fixed = ["2020", "0", "247 xrvm", "1", "360 ntwy", "2019", "99 ogrhnxgzo", "3 vbvkgz"]
    out = fixed[:n]
    while len(out) < n:
        number = str(int(rng.choice([0, 1, 2, 3, 7, 10, 24, 99, 100, 365, 2018, 2021, 4, 5])))
        word = str(rng.choice(_NAME_SYLLABLES)) + str(rng.choice(_NAME_SYLLABLES))
        candidate = number if rng.random() < 0.3 else f"{number} {word.translate(_CIPHER)}"
        if candidate not in out and candidate not in taken:
            out.append(candidate)
    return out


def _round_ctc(values: FloatArray, style: IntArray) -> IntArray:
    """Round CTCs the way people write them, by style: 0 two significant digits, 1 a multiple
    of 10,000, 2 of 1,000, 3 a multiple of 10,000 less one ("449999"), 4 of 10."""
    values = np.maximum(values, 1.0)
    two_digits = 10.0 ** np.maximum(np.floor(np.log10(values)) - 1, 0)
    unit = np.where(style == 0, two_digits, np.array([1.0, 1e4, 1e3, 1e4, 10.0])[style])
    out = np.maximum(np.round(values / unit), 1) * unit
    out = np.where(style == 3, out - 1, out)
    rounded: IntArray = np.maximum(out, 1).astype(np.int64)
    return rounded


def _draw_ctc_junk(n: int, extremes: IntArray, rng: np.random.Generator) -> IntArray:
    """Which learners write a junk CTC: 0 none, 1 lakhs, 2 thousands, 3 monthly, 4 huge, 5 fixed."""
    shares = np.asarray((*_CTC_TINY_SHARE, _CTC_HUGE_SHARE), dtype=np.float64)
    kind = _draw(rng, np.append(1.0 - shares.sum(), shares), n)
    kind[extremes] = 5
    return kind


def _apply_ctc_junk(
    ctc: IntArray, kind: IntArray, extremes: IntArray, rng: np.random.Generator
) -> IntArray:
    """Tiny and huge CTCs: lakhs written as units (2..50), thousands, monthly pay (10k..30k),
    tens to hundreds of millions; the minimum is exactly 2 and the maximum 1,000,150,000."""
    out = ctc.copy()
    for value, draw in (
        (1, lambda m: rng.integers(2, 51, m)),
        (2, lambda m: rng.integers(1, 10, m) * 1_000),
        (3, lambda m: np.round(rng.uniform(10_000, 30_000, m), -2)),
        (4, lambda m: np.round(10 ** rng.uniform(*_CTC_HUGE_LOG10, m), -6)),
    ):
        where = np.flatnonzero(kind == value)
        out[where] = np.minimum(draw(where.size), _CTC_MAX - 150_000).astype(np.int64)
    out[extremes[0]] = _CTC_MIN
    out[extremes[-1]] = _CTC_MAX
    return out


def _email_hashes(n: int, rng: np.random.Generator) -> npt.NDArray[np.str_]:
    """``n`` random 64-digit lower-case hex strings (like SHA-256 digests)."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = digits[rng.integers(0, 16, size=(n, 64))]
    return np.ascontiguousarray(chars).view("S64").ravel().astype("U64")


def _row_ids(rows: int, scale: float, rng: np.random.Generator) -> IntArray:
    """Sorted unique ids from range(0, span) with 0 and span - 1 present, like the real index."""
    span = max(rows, round(_FULL_INDEX_SPAN * scale))
    if span == rows:
        return np.arange(rows, dtype=np.int64)
    inner = np.asarray(rng.choice(span - 2, size=rows - 2, replace=False), dtype=np.int64) + 1
    return np.sort(np.concatenate([np.array([0, span - 1], dtype=np.int64), inner]))


def _take_text(
    values: npt.NDArray[np.object_], codes: IntArray
) -> pd.api.extensions.ExtensionArray:
    """Strings by code (-1 = missing) as pandas' ``str`` dtype with NaN for missing."""
    out = values[np.maximum(codes, 0)].copy()
    out[codes < 0] = np.nan
    return pd.array(out, dtype="str")
