"""Imported first by the fit workers' forkserver (:mod:`training.model.workers`), and only there:
the forkserver ignores SIGINT from its start.

A Ctrl-C at the terminal reaches the whole process group: the training process stops the run
(one sentence, nothing published) and its workers end with it, so the forkserver and its
workers must not each print a KeyboardInterrupt traceback, which they would while the
forkserver still imports scikit-learn (its own handlers are set only after that).
"""

from __future__ import annotations

import signal

__all__: list[str] = []

signal.signal(signal.SIGINT, signal.SIG_IGN)
