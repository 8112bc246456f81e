"""The preparation stage, *fit* halves (pandas, training only): frozen rules and peer tables.

:mod:`~training.prep.cleaning` learns the cleaning rules and cleans a whole table to one row per
learner; :mod:`~training.prep.features` learns the peer tables and computes every learner's
features. The *apply* halves, which the service runs too, are in :mod:`training.runtime`.
"""

__all__: list[str] = []
