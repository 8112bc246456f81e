"""The data stage: the raw learner table, read, made and described.

:mod:`~training.data.load` (a path or an http(s) URL, CSV or Parquet, checked against the schema
of :mod:`training.runtime.schema`), :mod:`~training.data.synth` (the seeded embedded default) and
:mod:`~training.data.inspect` (the data-quality summary of ``python -m training inspect``).
"""

__all__: list[str] = []
