"""The segment service: FastAPI over a verified model folder (``python -m service``).

``main`` (the app factory, ``create_app``), ``config`` (settings), ``api`` (one router per
resource), ``security`` (API keys and roles), ``deps`` (the routes' dependencies), ``schemas``
(request and response models), ``segmenter`` (the loaded model), ``state`` (loading, keeping and
swapping models), ``batch`` and ``render`` (batch placement and its JSON), ``drift``,
``metrics``, ``middleware``, ``logs``, ``lifecycle``, ``unpickle`` and ``client`` (the Python
client).
"""

__all__: list[str] = []
