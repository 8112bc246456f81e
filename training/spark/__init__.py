"""The Spark engine (``python -m training train --engine spark``): the same model, trained on Spark.

``session`` probes the environment (pyspark, Java 17+) and starts a session; ``data`` reads,
cleans and featurizes the learner table; ``model`` scales, sweeps k and fits K-Means and the
bisecting reference; ``run`` is the training run, in order, published like the pandas path's.
Only ``session`` imports without pyspark: import the others after
:func:`training.spark.session.check_spark`.
"""
