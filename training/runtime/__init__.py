"""Everything the service runs, with numpy and the standard library only.

``ops`` (the array and scalar backends), ``cleaning`` and ``features`` (the *apply* halves of the
cleaning rules and the features, and the warnings they word), ``segmenter`` (the engine-free
model: distances, nearest centre, runner-up, margin), ``placement`` (the service's edge rules and
the one batch placement, shared by ``/segment/batch`` and ``python -m training assign``),
``drift`` (training bins and shares, PSI, verdicts) and ``artifacts`` (the model folder's file
names; resolving and verifying a model). The *fit* halves (pandas) live in :mod:`training` and
produce the frozen objects applied here. An import-linter contract keeps pandas, scikit-learn,
matplotlib, pyspark and the rest of ``training`` out of this package.
"""
