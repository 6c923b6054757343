"""The FastAPI application: the prediction API, model listing, health checks and the
web page. Every error a client can cause is a JSON ``{"error": "one line"}`` with
a 4xx status; a bug is a 500 with no details (the traceback goes to the log)."""
from __future__ import annotations

import asyncio
import importlib.resources
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from ..device import set_threads
from .batching import MicroBatcher
from .models import ServedModel, load_models
from .results import sentence_result
from .schemas import ErrorResponse, PredictRequest, PredictResponse, parse_request
from .settings import ServeSettings

STATIC = Path(__file__).resolve().parent / "static"
# Swagger UI's script and style, from the fastapi-offline package (the serve extra), not a CDN.
DOCS_ASSETS = Path(str(importlib.resources.files("fastapi_offline") / "static"))
CONFIG_ENV = "TAGGER_SERVE_CONFIG"  # how --workers N hands the command line to each worker process
# The page loads nothing from elsewhere: users may run it offline, and it shows untrusted text.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
                "X-Content-Type-Options": "nosniff"}
log = logging.getLogger("uvicorn.error")  # printed the way uvicorn prints its own lines


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message.replace("\n", " ")


class JSONBody(Response):
    """JSON as UTF-8; text holding lone surrogates (valid JSON escapes, not valid
    UTF-8) goes back \\u-escaped instead of failing."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:  # orjson: a fifth of the stdlib's time on an answer; it refuses lone surrogates
            return orjson.dumps(content)
        except TypeError:
            pass
        try:
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def error(status: int, message: str) -> JSONBody:
    return JSONBody({"error": message}, status_code=status)


class Server:
    """The models, their batchers and the one model thread, for one process."""

    def __init__(self, models: dict[str, ServedModel], settings: ServeSettings):
        self.models, self.settings = models, settings
        self.batchers: dict[str, MicroBatcher] = {}
        self.ready = False

    @asynccontextmanager
    async def lifespan(self, app: FastAPI):
        if any(served.backend == "torch" for served in self.models.values()):  # exports' sessions have theirs
            set_threads(self.settings.threads)
        # One thread runs every model: batches never compete for the cores, and
        # PyTorch's own threads (--threads) do the parallel work inside a batch.
        executor = ThreadPoolExecutor(1, thread_name_prefix="tagger-model")
        for name, served in self.models.items():
            batcher = MicroBatcher(served, executor, self.settings.max_batch, self.settings.max_wait_ms / 1000)
            await batcher.warm_up()
            batcher.start()
            self.batchers[name] = batcher
        self.ready = True
        try:
            yield
        finally:  # uvicorn gets here after in-flight requests have been answered
            self.ready = False
            for name, batcher in self.batchers.items():
                log.info("model '%s': %d sentences in %d batches", name, batcher.sentences, batcher.batches)
            await asyncio.gather(*(b.stop() for b in self.batchers.values()))
            executor.shutdown(wait=True)

    def model(self, name: str) -> ServedModel:
        served = self.models.get(name)
        if served is None:
            raise ApiError(404, f"no model '{name[:100]}' (loaded: {', '.join(self.models)})")
        return served

    def describe(self, name: str) -> dict:
        batcher = self.batchers.get(name)
        if batcher is None:  # before start-up
            return {**self.models[name].info, "served": None}
        served = {"batches": batcher.batches, "sentences": batcher.sentences, "queued": batcher.queued}
        return {**self.models[name].info, "served": served}


async def read_json(request: Request, max_body: int) -> object:
    """The request body as parsed JSON, refusing it as soon as it passes ``max_body`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise ApiError(413, f"request body of {int(declared):,} bytes is over the limit (--max-body {max_body:,})")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise ApiError(413, f"request body is over the limit (--max-body {max_body:,} bytes)")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "the client disconnected before sending the whole body") from None
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(422, 'body: empty; send a JSON object such as {"text": "..."}')
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ApiError(400, f"body is not UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ApiError(400, f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except (ValueError, RecursionError) as err:  # a 5,000-digit number, arrays nested 100,000 deep
        raise ApiError(400, f"malformed JSON: {str(err)[:200] or type(err).__name__}") from None


def request_sentences(
    request: PredictRequest, served: ServedModel, settings: ServeSettings
) -> tuple[list[str], list[list[str]]]:
    """(the text of each sentence, its words as the model reads them), checked against the limits."""
    tagger = served.tagger
    if request.text is not None or request.texts is not None:
        texts = [request.text] if request.text is not None else request.texts
        raw: list[Any] = texts
    else:
        raw = [request.tokens] if request.tokens is not None else request.sentences
        texts = [" ".join(tokens) for tokens in raw]
    if len(raw) > settings.max_sentences:
        limit = settings.max_sentences
        raise ApiError(413, f"{len(raw):,} sentences in one request; the limit (--max-sentences) is {limit:,}")
    words = []
    for i, item in enumerate(raw):
        sentence = tagger.words(item)
        if len(sentence) > settings.max_tokens:
            limit = settings.max_tokens
            raise ApiError(413, f"sentence {i} has {len(sentence):,} words; the limit (--max-tokens) is {limit:,}")
        words.append(sentence)
    if request.explain and not served.attention_tasks:
        why = "is an ONNX export (its graph gives no attention weights)" if served.backend == "onnx" else \
            "has no classifier with attention pooling"
        raise ApiError(422, f"explain: model '{served.name}' {why}")
    return texts, words


def create_app(models: dict[str, ServedModel], settings: ServeSettings) -> FastAPI:
    server = Server(models, settings)
    app = FastAPI(title="tagger", version=__version__, lifespan=server.lifespan, docs_url=None, redoc_url=None,
                  description="BiLSTM taggers and classifiers over HTTP. Errors are `{\"error\": \"one line\"}`.")
    app.state.server = server
    add_error_handlers(app)
    add_api_routes(app, server)
    add_page_routes(app)
    add_docs_routes(app)
    return app


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> Response:
        return error(err.status, err.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> Response:  # unknown paths, wrong methods
        return error(err.status_code, str(err.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        return error(422, f"{'.'.join(str(p) for p in first['loc']) or 'request'}: {first['msg']}")

    @app.exception_handler(Exception)
    async def bug(request: Request, err: Exception) -> Response:  # logged by uvicorn; no details to the client
        return error(500, "internal error (the server log has the details)")


PREDICT_DOC = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": PredictRequest.model_json_schema()}}},
}
ERRORS = {code: {"model": ErrorResponse, "description": text} for code, text in (
    (400, "Malformed JSON or not UTF-8"), (404, "No model of that name"), (413, "Over a limit (named)"),
    (422, "A field missing, of the wrong type, or unknown (named)"))}


def add_api_routes(app: FastAPI, server: Server) -> None:
    settings = server.settings

    @app.get("/health", summary="The process is up")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", summary="Models loaded and warmed up; 503 while starting or stopping")
    async def ready() -> Response:
        if not server.ready:
            return JSONBody({"ready": False}, status_code=503)
        return JSONBody({"ready": True, "models": list(server.models)})

    @app.get("/v1/models", summary="The loaded models: tasks, labels, training metrics; and the limits")
    async def list_models() -> Response:
        return JSONBody({"models": [server.describe(name) for name in server.models], "limits": settings.to_dict()})

    @app.get("/v1/models/{name}", summary="One model", responses={404: ERRORS[404]})
    async def one_model(name: str) -> Response:
        server.model(name)
        return JSONBody(server.describe(name))

    @app.post("/v1/models/{name}/predict", summary="Tag sentences", openapi_extra=PREDICT_DOC,
              responses={200: {"model": PredictResponse}, **ERRORS})
    async def predict(name: str, request: Request) -> Response:
        served = server.model(name)
        data = await read_json(request, settings.max_body)
        try:
            parsed = parse_request(data)
        except ValueError as err:
            raise ApiError(422, str(err)) from None
        texts, words = request_sentences(parsed, served, settings)
        predictions = await server.batchers[name].predict(words, parsed.explain)
        answers = zip(texts, words, predictions, strict=True)
        sentences = [sentence_result(text, sentence, p, served, parsed.explain) for text, sentence, p in answers]
        return JSONBody({"model": name, "sentences": sentences})


def add_page_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def add_docs_routes(app: FastAPI) -> None:
    """Swagger UI at /docs with every file from this server (FastAPI's own page loads
    them from a CDN, and users may run offline); no ReDoc."""
    assets = "/docs/assets"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} API", swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css", swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None})  # no badge fetched from the validator's site

    app.mount(assets, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")


def app_from_environment() -> FastAPI:
    """The app for a worker process of ``tagger serve --workers N`` (a uvicorn factory):
    the command line travels in an environment variable."""
    config = json.loads(os.environ[CONFIG_ENV])
    settings = ServeSettings(**config["settings"])
    return create_app(load_models(config["models"], config["device"], settings.threads), settings)
