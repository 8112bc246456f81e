"""Loading the raw learner table: schema, NA/number rules, formats, failures, and downloads."""

from __future__ import annotations

import csv
import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import REFERENCE_PROFILE, free_port
from training.data.load import DataError, download, load_learners, read_learners_frame
from training.runtime.schema import (
    EMAIL_COLUMN,
    FILE_COLUMNS,
    FILE_ROWS,
    INDEX_COLUMN,
    NUMERIC_COLUMNS,
    RAW_FIELDS,
    REQUIRED_COLUMNS,
    TEXT_COLUMNS,
)

HEADER = "Unnamed: 0,company_hash,email_hash,orgyear,ctc,job_position,ctc_updated_year"
ROWS = [
    "0,atrgxnnt xzaxv,6de0a4417d18ab14334c3f43397fc13b30c35149d70c05,2016.0,1100000,Other,2020.0",
    "1,qtrxvzwt xzegwgbb rxbxnta,b0aaf1ac138b53cb6e039ba2c3d6604a250d02d5145c10,2018.0,449999,"
    "FullStack Engineer,2019.0",
    "2,ojzwnvwnxw vx,4860c670bcd48fb96c02a4b0ae3608ae6fdd98176112e9,2015.0,2000000,"
    "Backend Engineer,2020.0",
]
CSV_TEXT = "\n".join([HEADER, *ROWS]) + "\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _assert_contract(df: pd.DataFrame) -> None:
    assert tuple(df.columns) == REQUIRED_COLUMNS
    assert isinstance(df.index, pd.RangeIndex)
    assert df.index.equals(pd.RangeIndex(len(df)))
    for name in TEXT_COLUMNS:
        assert df[name].dtype == np.dtype(object), name
        assert all(value is None or type(value) is str for value in df[name]), name
    for name in NUMERIC_COLUMNS:
        assert df[name].dtype == np.dtype("float64"), name


def test_the_schema_is_the_real_file_s() -> None:
    profile = json.loads(REFERENCE_PROFILE.read_text(encoding="utf-8"))
    assert list(FILE_COLUMNS) == profile["columns"] and profile["rows"] == FILE_ROWS
    assert FILE_COLUMNS[0] == INDEX_COLUMN and FILE_COLUMNS[1:] == REQUIRED_COLUMNS
    dtypes = profile["dtypes"]
    assert [c for c in REQUIRED_COLUMNS if dtypes[c] == "object"] == list(TEXT_COLUMNS)
    assert [c for c in REQUIRED_COLUMNS if dtypes[c] != "object"] == list(NUMERIC_COLUMNS)
    assert RAW_FIELDS == ("company_hash", "orgyear", "ctc", "job_position", "ctc_updated_year")
    assert EMAIL_COLUMN in TEXT_COLUMNS and EMAIL_COLUMN not in RAW_FIELDS


def _expected_from_csv(path: Path) -> pd.DataFrame:
    """An independent reading with the csv module and the documented rules."""
    with path.open(newline="", encoding="utf-8") as stream:
        records = list(csv.DictReader(stream))
    data: dict[str, pd.Series] = {}
    for name in REQUIRED_COLUMNS:
        cells = [record[name] for record in records]
        if name in NUMERIC_COLUMNS:
            data[name] = pd.Series([float(c) if c.strip() else np.nan for c in cells])
        else:
            values = [c if c.strip() else None for c in cells]
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


# --------------------------------------------------------------------------------------------
# the genuine rows
# --------------------------------------------------------------------------------------------


def test_real_rows_are_read_faithfully(real_rows_path: Path) -> None:
    df = load_learners(real_rows_path, progress=False)

    _assert_contract(df)
    assert len(df) == 116
    assert "Unnamed: 0" not in df.columns
    pd.testing.assert_frame_equal(df, _expected_from_csv(real_rows_path))
    # Only empty fields are missing: 33 job titles in these rows, nothing else.
    assert df.isna().sum().to_dict() == {
        "company_hash": 0,
        "email_hash": 0,
        "orgyear": 0,
        "ctc": 0,
        "job_position": 33,
        "ctc_updated_year": 0,
    }
    # Junk years are numbers, not the loader's business.
    assert {1.0, 208.0, 1900.0} <= set(df["orgyear"])
    # The 1,000 CTC row is kept as it is.
    low = df[df["ctc"] == 1000.0]
    assert low[["company_hash", "orgyear", "job_position"]].values.tolist() == [
        ["sggsrt", 1973.0, "Co-founder"]
    ]
    assert (df["job_position"] == "Not Available").sum() == 2
    assert "2020" in set(df["company_hash"])  # a digits-only company stays a string


# --------------------------------------------------------------------------------------------
# columns
# --------------------------------------------------------------------------------------------


def test_headers_match_whatever_the_case_and_spaces_and_order(tmp_path: Path) -> None:
    text = (
        "Job_position, CTC ,Company_hash,EMAIL_HASH,OrgYear,Ctc_Updated_Year,Extra\n"
        "Backend Engineer,1100000,atrgxnnt xzaxv,abc123,2016,2020.0,x\n"
    )
    df = load_learners(_write(tmp_path / "t.csv", text))

    _assert_contract(df)
    assert df.iloc[0].tolist() == [
        "atrgxnnt xzaxv",
        "abc123",
        2016.0,
        1100000.0,
        "Backend Engineer",
        2020.0,
    ]


def test_missing_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    text = "company_hash,email_hash,orgyear,job_position,ctc_updated_year\na,b,2016,x,2020\n"
    path = _write(tmp_path / "t.csv", text)

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == (
        "The learner table has no 'ctc' column; found: company_hash, email_hash, orgyear, "
        "job_position, ctc_updated_year."
    )


def test_several_missing_columns_are_all_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "company_hash,email_hash,orgyear,job_position\na,b,1,x\n")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == (
        "The learner table has no 'ctc', 'ctc_updated_year' columns; found: company_hash, "
        "email_hash, orgyear, job_position."
    )


def test_semicolon_separated_file_gets_a_hint(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", CSV_TEXT.replace(",", ";"))

    with pytest.raises(DataError, match=r"separated by something other than commas\?\)\.$"):
        load_learners(path)


@pytest.mark.parametrize(
    ("header", "spelled"),
    [
        (HEADER + ",CTC ", "'ctc', 'CTC '"),
        (HEADER + ",ctc", "'ctc', 'ctc'"),  # pandas would silently rename this one 'ctc.1'
    ],
)
def test_columns_colliding_after_lower_casing_are_refused(
    tmp_path: Path, header: str, spelled: str
) -> None:
    path = _write(tmp_path / "t.csv", header + "\n" + ROWS[0] + ",5\n")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == (
        "The learner table has 2 columns that read as 'ctc' once case and surrounding spaces "
        f"are ignored ({spelled}); keep only one."
    )


# --------------------------------------------------------------------------------------------
# missing values and numbers
# --------------------------------------------------------------------------------------------

NA_TOKENS = ["", "   ", "nan", "NaN", "NA", "N/A", "n/a", "null", "NULL", "None", " none "]


def test_na_tokens_are_missing_in_numeric_columns_only(tmp_path: Path) -> None:
    lines = [HEADER]
    for i, token in enumerate(NA_TOKENS):
        # The same token in a text column (job_position) and in every numeric column.
        lines.append(f'{i},c{i},e{i},"{token}","{token}","{token}","{token}"')
    df = load_learners(_write(tmp_path / "t.csv", "\n".join(lines) + "\n"))

    _assert_contract(df)
    for name in NUMERIC_COLUMNS:
        assert df[name].isna().all(), name
    expected = [None, None, *NA_TOKENS[2:]]  # only empty/blank text is missing, the rest verbatim
    assert df["job_position"].tolist() == expected


def test_text_is_kept_verbatim(tmp_path: Path) -> None:
    text = (
        HEADER + "\n"
        '0,nan,null,2016,1,"  Senior  Software Engineer ",2020\n'
        "1,null,NA,2016,1,Not Available,2020\n"
        "2,   ,e2,2016,1,NA,2020\n"
    )
    df = load_learners(_write(tmp_path / "t.csv", text))

    assert df["company_hash"].tolist() == ["nan", "null", None]
    assert df["email_hash"].tolist() == ["null", "NA", "e2"]
    assert df["job_position"].tolist() == ["  Senior  Software Engineer ", "Not Available", "NA"]


def test_number_spellings_that_parse(tmp_path: Path) -> None:
    values = ["2018.0", " 700000 ", "1e6", "-3", ".5", "+4", "20165"]
    lines = [HEADER] + [f'{i},c,e,"{v}",1,x,2020' for i, v in enumerate(values)]
    df = load_learners(_write(tmp_path / "t.csv", "\n".join(lines) + "\n"))

    assert df["orgyear"].tolist() == [2018.0, 700000.0, 1e6, -3.0, 0.5, 4.0, 20165.0]


def test_values_that_are_not_numbers_are_reported_with_rows(tmp_path: Path) -> None:
    values = ["500000", "abc", "12,00,000", "inf", "1_000", "#N/A"]
    lines = [HEADER] + [f'{i},c,e,2016,"{v}",x,2020' for i, v in enumerate(values)]
    path = _write(tmp_path / "t.csv", "\n".join(lines) + "\n")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == (
        "Column 'ctc' of the learner table has 5 values that are not numbers (e.g. row 2: "
        "'abc', row 3: '12,00,000', row 4: 'inf'); write plain numbers such as 1200000, "
        "without thousands separators."
    )


def test_a_single_bad_value_is_reported_in_the_singular(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", CSV_TEXT + "3,c,e,2016,1000,x,twenty\n")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value).startswith(
        "Column 'ctc_updated_year' of the learner table has 1 value that is not a number "
        "(e.g. row 4: 'twenty');"
    )


# --------------------------------------------------------------------------------------------
# files that are not learner tables
# --------------------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == f"The learner table {path} is empty (0 bytes)."


def test_blank_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "\n\n  \n")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == f"The learner table {path} is empty (no header row)."


def test_header_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", HEADER + "\n")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == f"The learner table {path} has no rows."


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "it is a PNG image"),
        (b"PK\x03\x04\x14\x00\x06\x00", "it is a ZIP archive (an Excel workbook?)"),
        (bytes(range(256)) * 4, "it holds binary data"),
        (b'{"company_hash": ["a"], "ctc": [1]}', "it looks like JSON"),
        (b'  [{"company_hash": "a"}]', "it looks like JSON"),
        (
            b"<!DOCTYPE html><html><body>Access denied</body></html>",
            "it looks like an HTML or XML page",
        ),
    ],
)
def test_files_that_are_not_csv(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "learners.csv"
    path.write_bytes(content)

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == f"The learner table {path} is not a CSV file: {reason}."


def test_json_document_is_not_mistaken_for_csv_even_with_data(tmp_path: Path) -> None:
    records = pd.read_csv(_write(tmp_path / "t.csv", CSV_TEXT)).to_dict("records")
    path = _write(tmp_path / "learners.json", json.dumps(records))

    with pytest.raises(DataError, match="is not a CSV file: it looks like JSON"):
        load_learners(path)


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(CSV_TEXT.replace("Other", "Ingénieur").encode("latin-1"))

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert (
        str(excinfo.value) == f"The learner table {path} is not UTF-8 text; save it as UTF-8 CSV."
    )


def test_text_that_is_not_utf8_far_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    many = "\n".join([HEADER, *(ROWS * 200)]) + "\n"  # the bad byte is past the first 8 KiB
    path.write_bytes(many.encode() + "3,c,e,2016,1,Ingénieur,2020\n".encode("latin-1"))

    with pytest.raises(DataError, match=r"is not UTF-8 text; save it as UTF-8 CSV\.$"):
        load_learners(path)


def test_utf16_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(CSV_TEXT.encode("utf-16"))

    with pytest.raises(DataError, match="is UTF-16 text; save it as UTF-8 CSV"):
        load_learners(path)


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(CSV_TEXT.encode("utf-8-sig"))

    assert len(load_learners(path)) == 3


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError) as excinfo:
        load_learners(tmp_path)

    assert str(excinfo.value) == f"The learner table {tmp_path} is a directory, not a file."


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"

    with pytest.raises(DataError) as excinfo:
        load_learners(str(path))

    assert str(excinfo.value) == f"The learner table {path} does not exist."


def test_empty_source() -> None:
    with pytest.raises(DataError, match="the source is an empty string"):
        load_learners("  ")


def test_row_with_too_many_fields(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", CSV_TEXT + "3,c,e,2016,1000,x,2020,surplus\n")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == (
        f"The learner table {path} is not a well-formed CSV file: "
        "Expected 7 fields in line 5, saw 8."
    )


def test_every_row_with_an_extra_field(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "\n".join([HEADER, *(r + ",x" for r in ROWS)]) + "\n")

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == (
        f"The learner table {path} has rows with more fields than its header."
    )


def test_trailing_comma_on_every_line_is_harmless(tmp_path: Path) -> None:
    plain = load_learners(_write(tmp_path / "a.csv", CSV_TEXT))
    trailing = load_learners(
        _write(tmp_path / "b.csv", "\n".join(r + "," for r in CSV_TEXT.splitlines()) + "\n")
    )

    pd.testing.assert_frame_equal(trailing, plain)


def test_short_rows_have_missing_values(tmp_path: Path) -> None:
    df = load_learners(_write(tmp_path / "t.csv", CSV_TEXT + "3,c,e,2016\n"))

    assert df.loc[3, "orgyear"] == 2016.0
    assert df.loc[3, ["ctc", "ctc_updated_year"]].isna().all()
    assert df.loc[3, "job_position"] is None


def test_unknown_extension_is_read_as_csv(tmp_path: Path) -> None:
    assert len(load_learners(_write(tmp_path / "learners.txt", CSV_TEXT))) == 3


# --------------------------------------------------------------------------------------------
# compressed CSV and Parquet
# --------------------------------------------------------------------------------------------


def test_gzip_csv_matches_plain_csv(tmp_path: Path) -> None:
    plain = load_learners(_write(tmp_path / "t.csv", CSV_TEXT))
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(CSV_TEXT.encode()))
    misnamed = tmp_path / "gzipped.csv"  # recognised by its first bytes
    misnamed.write_bytes(gzip.compress(CSV_TEXT.encode()))
    not_gzip = _write(tmp_path / "plain.csv.gz", CSV_TEXT)  # a '.gz' name on plain text

    for path in (packed, misnamed, not_gzip):
        pd.testing.assert_frame_equal(load_learners(path), plain)


@pytest.mark.parametrize("suffix", [".csv.bz2", ".csv.xz", ".csv.zip"])
def test_other_compressions_are_inferred_from_the_name(tmp_path: Path, suffix: str) -> None:
    plain = load_learners(_write(tmp_path / "t.csv", CSV_TEXT))
    path = tmp_path / f"t{suffix}"
    pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False).to_csv(path, index=False)

    pd.testing.assert_frame_equal(load_learners(path), plain)


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress((CSV_TEXT * 200).encode())[:100])

    with pytest.raises(
        DataError, match=r"^The learner table .* (is not a valid gzip file|could not)"
    ):
        load_learners(path)


def test_parquet_with_upper_case_names_and_int_dtypes(tmp_path: Path) -> None:
    raw = pd.DataFrame(
        {
            "Unnamed: 0": [7, 8, 9],
            "Company_hash": ["a", None, "c"],
            "email_hash": ["e1", "e2", "e3"],
            "OrgYear": pd.array([2016, None, 2018], dtype="Int64"),
            "CTC": np.array([1_100_000, 449_999, 2_000_000], dtype=np.int64),
            "Job_position": ["Other", "", "NA"],
            "ctc_updated_year": np.array([2020, 2019, 2020], dtype=np.int32),
        }
    )
    path = tmp_path / "t.parquet"
    raw.to_parquet(path)
    no_suffix = tmp_path / "t.bin"  # recognised by its magic bytes
    raw.to_parquet(no_suffix)

    df = load_learners(path)

    _assert_contract(df)
    assert df["company_hash"].tolist() == ["a", None, "c"]
    assert df["orgyear"].isna().tolist() == [False, True, False]
    assert df["ctc"].tolist() == [1_100_000.0, 449_999.0, 2_000_000.0]
    assert df["job_position"].tolist() == ["Other", None, "NA"]
    pd.testing.assert_frame_equal(load_learners(no_suffix), df)


def test_parquet_and_csv_give_the_same_frame(tmp_path: Path) -> None:
    from_csv = load_learners(_write(tmp_path / "t.csv", CSV_TEXT))
    path = tmp_path / "t.pq"
    pd.read_csv(tmp_path / "t.csv").to_parquet(path)

    pd.testing.assert_frame_equal(load_learners(path), from_csv)


def test_parquet_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"company_hash": ["a"], "ctc": [1]}).to_parquet(path)

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == (
        "The learner table has no 'email_hash', 'orgyear', 'job_position', 'ctc_updated_year' "
        "columns; found: company_hash, ctc."
    )


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_parquet(tmp_path: Path, damage: str) -> None:
    good = tmp_path / "good.parquet"
    pd.read_csv(_write(tmp_path / "t.csv", CSV_TEXT)).to_parquet(good)
    path = tmp_path / "bad.parquet"
    if damage == "truncated":
        path.write_bytes(good.read_bytes()[:-40])
    else:
        path.write_bytes(b"PAR1" + b"\x07" * 300)

    with pytest.raises(DataError) as excinfo:
        load_learners(path)

    assert str(excinfo.value) == (
        f"The learner table {path} is not a readable Parquet file (it may be truncated or corrupt)."
    )


# --------------------------------------------------------------------------------------------
# in-memory frames
# --------------------------------------------------------------------------------------------


def test_read_learners_frame_accepts_typed_and_string_values() -> None:
    raw = pd.DataFrame(
        {
            "CTC": pd.Series(["1000", " 2e3 ", None, "NULL"], dtype="str"),
            "company_hash": pd.Series(["a", " ", None, 2020], dtype=object),
            "email_hash": pd.Series(["e1", "e2", "e3", "e4"], dtype="string"),
            "orgyear": pd.Series([2016, 2017.0, None, np.nan], dtype=object),
            "job_position": pd.Categorical(["x", "y", None, "x"]),
            "ctc_updated_year": pd.array([2020, None, 2021, 2019], dtype="Int64"),
        }
    ).set_axis([10, 11, 12, 13])
    before = raw.copy()

    df = read_learners_frame(raw)

    _assert_contract(df)
    pd.testing.assert_frame_equal(raw, before)  # the input is not modified
    assert df["ctc"].tolist()[:2] == [1000.0, 2000.0]
    assert df["ctc"].isna().tolist() == [False, False, True, True]
    assert df["company_hash"].tolist() == ["a", None, None, "2020"]
    assert df["email_hash"].tolist() == ["e1", "e2", "e3", "e4"]
    assert df["orgyear"].tolist()[:2] == [2016.0, 2017.0]
    assert df["job_position"].tolist() == ["x", "y", None, "x"]
    assert df["ctc_updated_year"].isna().tolist() == [False, True, False, False]


def test_read_learners_frame_refuses_booleans_and_infinities() -> None:
    base = {name: ["a"] for name in TEXT_COLUMNS} | {name: [1.0] for name in NUMERIC_COLUMNS}

    with pytest.raises(DataError, match=r"^Column 'ctc' .* 1 value that is not a number .*'True'"):
        read_learners_frame(pd.DataFrame(base | {"ctc": [True]}))
    with pytest.raises(DataError, match=r"^Column 'orgyear' .*'inf'"):
        read_learners_frame(pd.DataFrame(base | {"orgyear": [np.inf]}))


def test_read_learners_frame_without_rows_names_its_origin() -> None:
    empty = pd.DataFrame({name: [] for name in REQUIRED_COLUMNS})

    with pytest.raises(DataError) as excinfo:
        read_learners_frame(empty, origin="synthetic default")

    assert str(excinfo.value) == "The learner table synthetic default has no rows."


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["s3://bucket/learners.csv", "ftp://example.org/learners.csv"])
def test_unsupported_schemes(url: str, tmp_path: Path) -> None:
    scheme = url.split(":")[0]
    with pytest.raises(DataError) as excinfo:
        load_learners(url, cache_dir=tmp_path)

    assert str(excinfo.value) == (
        f"Cannot load {url}: '{scheme}://' URLs are not supported; use a local path or an "
        "http(s) URL."
    )
    with pytest.raises(DataError):
        download(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests: list[str]
    release: threading.Event


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Files from a folder, plus /partial/, /redirect/ and /slow/ misbehaviours."""

    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.path.startswith("/partial/"):
            body = CSV_TEXT.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True  # then hang up, 1,000 bytes short
            return
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "/" + self.path.removeprefix("/redirect/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/slow/"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(CSV_TEXT)))
            self.end_headers()
            self.server.release.wait(timeout=10)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, _Server]]:
    root = tmp_path_factory.mktemp("served")
    _write(root / "learners.csv", CSV_TEXT)
    (root / "other").mkdir()
    _write(root / "other" / "learners.csv", CSV_TEXT.replace("Other", "Elsewhere"))
    (root / "learners.csv.gz").write_bytes(gzip.compress(CSV_TEXT.encode()))
    _write(root / "error.csv", "<html><body>Error</body></html>")

    httpd = _Server(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    httpd.requests = []
    httpd.release = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_download_gives_the_local_frame_and_is_cached(
    server: tuple[str, _Server], tmp_path: Path
) -> None:
    base, httpd = server
    url = f"{base}/learners.csv"
    local = load_learners(_write(tmp_path / "local.csv", CSV_TEXT))
    cache = tmp_path / "cache"
    before = len(httpd.requests)

    first = load_learners(url, cache_dir=cache, progress=False)
    after_first = len(httpd.requests)
    second = load_learners(url, cache_dir=cache, progress=False)

    pd.testing.assert_frame_equal(first, local)
    pd.testing.assert_frame_equal(second, local)
    assert after_first - before == 1
    assert len(httpd.requests) == after_first  # the second call made no request
    [cached] = cache.iterdir()
    assert cached.name.startswith("learners-") and cached.name.endswith(".csv")


def test_different_urls_never_share_a_cache_file(
    server: tuple[str, _Server], tmp_path: Path
) -> None:
    base, _ = server
    one = download(f"{base}/learners.csv", tmp_path, progress=False)
    two = download(f"{base}/other/learners.csv", tmp_path, progress=False)

    assert one != two
    assert "Elsewhere" in two.read_text() and "Elsewhere" not in one.read_text()


def test_download_follows_redirects_and_keeps_the_compression_suffix(
    server: tuple[str, _Server], tmp_path: Path
) -> None:
    base, _ = server
    url = f"{base}/redirect/learners.csv.gz"

    df = load_learners(url, cache_dir=tmp_path, progress=False)

    assert len(df) == 3
    [cached] = tmp_path.iterdir()
    assert cached.name.endswith(".csv.gz")


def test_partial_download_leaves_nothing(server: tuple[str, _Server], tmp_path: Path) -> None:
    base, _ = server
    url = f"{base}/partial/learners.csv"

    with pytest.raises(DataError) as excinfo:
        load_learners(url, cache_dir=tmp_path, progress=False)

    message = str(excinfo.value)
    assert message.startswith(
        f"Could not download {url}: the connection broke before the download was complete"
    )
    assert list(tmp_path.iterdir()) == []


def test_http_error_status(server: tuple[str, _Server], tmp_path: Path) -> None:
    base, _ = server
    url = f"{base}/absent.csv"

    with pytest.raises(DataError) as excinfo:
        load_learners(url, cache_dir=tmp_path, progress=False)

    assert str(excinfo.value) == f"Could not download {url}: HTTP 404 Not Found."
    assert list(tmp_path.iterdir()) == []


def test_read_timeout(server: tuple[str, _Server], tmp_path: Path) -> None:
    base, _ = server
    url = f"{base}/slow/learners.csv"

    with pytest.raises(DataError) as excinfo:
        load_learners(url, cache_dir=tmp_path, progress=False, timeout=0.2)

    assert str(excinfo.value) == f"Could not download {url}: no answer within 0.2 s."
    assert list(tmp_path.iterdir()) == []


def test_connection_refused(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/learners.csv"

    with pytest.raises(DataError, match=rf"^Could not download {url}: cannot connect \("):
        load_learners(url, cache_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_downloaded_page_that_is_not_csv_names_url_and_cache(
    server: tuple[str, _Server], tmp_path: Path
) -> None:
    base, _ = server
    url = f"{base}/error.csv"

    with pytest.raises(DataError) as excinfo:
        load_learners(url, cache_dir=tmp_path, progress=False)

    [cached] = tmp_path.iterdir()
    assert str(excinfo.value) == (
        f"The learner table {url} (cached at {cached}) is not a CSV file: it looks like an "
        "HTML or XML page."
    )


def test_progress_bar_under_capture(
    server: tuple[str, _Server], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = server

    df = load_learners(f"{base}/learners.csv", cache_dir=tmp_path, progress=True)

    assert len(df) == 3
    assert capsys.readouterr().out == ""  # the bar goes to stderr, never stdout


def test_default_cache_dir_is_under_home(
    server: tuple[str, _Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = server
    monkeypatch.setenv("HOME", str(tmp_path))

    load_learners(f"{base}/learners.csv", progress=False)

    [cached] = (tmp_path / ".cache" / "learnseg").iterdir()
    assert cached.suffix == ".csv"
