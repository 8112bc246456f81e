"""The raw learner table's schema, written once: its columns, their kinds, the fields placed.

The case-study file (``scaler_clustering.csv``) has a stray index column and six fields per row.
The loader (:mod:`training.data.load`) keeps the six, in :data:`REQUIRED_COLUMNS` order, numbers
as ``float64`` and text as Python ``str`` or ``None``; the generator of the embedded default
(:mod:`training.data.synth`) writes the file's own :data:`FILE_COLUMNS`; cleaning, the service and
``python -m training assign`` read a learner's :data:`RAW_FIELDS` (``email_hash`` only tells
learners apart). Standard library only, so that the serving kernel can import it.
"""

from __future__ import annotations

__all__ = [
    "EMAIL_COLUMN",
    "FILE_COLUMNS",
    "FILE_ROWS",
    "INDEX_COLUMN",
    "NUMERIC_COLUMNS",
    "RAW_FIELDS",
    "REQUIRED_COLUMNS",
    "TEXT_COLUMNS",
]

#: The column that identifies a learner (a hashed e-mail address); several rows may share it.
EMAIL_COLUMN = "email_hash"

#: The columns of a loaded learner table, in this order.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "company_hash",
    EMAIL_COLUMN,
    "orgyear",
    "ctc",
    "job_position",
    "ctc_updated_year",
)
#: Columns parsed as numbers (float64, NaN for missing).
NUMERIC_COLUMNS: tuple[str, ...] = ("orgyear", "ctc", "ctc_updated_year")
#: Columns kept as text (Python str or None).
TEXT_COLUMNS: tuple[str, ...] = tuple(c for c in REQUIRED_COLUMNS if c not in NUMERIC_COLUMNS)

#: The raw fields of one learner that cleaning reads (the required columns but the e-mail,
#: which only identifies a learner).
RAW_FIELDS: tuple[str, ...] = tuple(c for c in REQUIRED_COLUMNS if c != EMAIL_COLUMN)

#: The stray index column of the case-study file (pandas' index written to CSV); not loaded.
INDEX_COLUMN = "Unnamed: 0"
#: The columns of the case-study file as written, in its order.
FILE_COLUMNS: tuple[str, ...] = (INDEX_COLUMN, *REQUIRED_COLUMNS)
#: The rows of the case-study file (and of the embedded default, which is made to its measure).
FILE_ROWS = 205_843
