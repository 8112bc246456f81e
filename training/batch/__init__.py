"""Placing whole learner tables offline with the service's runtime kernel.

``python -m training assign`` and ``python -m training drift`` run here, each model read by the
one verified loader (:func:`training.runtime.loader.load_model`):

* :mod:`~training.batch.assign`: a table placed chunk by chunk, with the run's summary;
* :mod:`~training.batch.answers`: the answer rows of raw learners (:data:`OUTPUT_COLUMNS
  <training.batch.answers.OUTPUT_COLUMNS>`), shared with the Spark engine's executors;
* :mod:`~training.batch.reading`: a chunk as the columns placement reads (typed Arrow batches,
  loader frames), read ahead in a thread;
* :mod:`~training.batch.writing`: output formats, the temporary file renamed when complete,
  writing behind in a thread;
* :mod:`~training.batch.per_learner`: ``--per-learner``, rows collapsed per email as training
  does, through hash partitions on disk;
* :mod:`~training.batch.drift`: the service's drift figures for a table.
"""
