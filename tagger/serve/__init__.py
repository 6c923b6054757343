"""``tagger serve``: models behind an HTTP API (FastAPI + uvicorn) and a web page.

* :mod:`.settings` the limits and batching knobs (plain dataclass, no web imports);
* :mod:`.models` the models loaded at start, chosen by name, and what ``GET /v1/models`` says of them;
* :mod:`.results` one sentence's answer: tokens with character offsets, tags, spans, labels;
* :mod:`.batching` micro-batching: concurrent requests gathered into one model batch;
* :mod:`.schemas` the request and response bodies (pydantic);
* :mod:`.app` the FastAPI application; :mod:`.cli` the ``tagger serve`` command.

An integration: it imports :mod:`tagger.predict`; nothing in the core imports it.
FastAPI and uvicorn come with the ``serve`` extra (``pip install "tagger[serve]"``).
"""
