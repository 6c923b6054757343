"""``tagger serve``: the command. Only typer and the standard library at import time, so
``tagger --help`` stays fast; FastAPI, uvicorn and the models load when it runs."""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Annotated

import typer

from ..device import THREADS_HELP
from ..errors import TaggerError
from .common import user_errors


@user_errors
def serve_command(
    models: Annotated[list[str], typer.Argument(metavar="MODEL", help="Model directories (or run directories, or 'tagger export' directories, run on ONNX Runtime), each served under its folder name; NAME=PATH picks the name.")],
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 exposes the server to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port, printed at start).")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes, each with its own copy of the models.")] = 1,
    max_batch: Annotated[int, typer.Option(help="Sentences gathered from concurrent requests into one model batch.")] = 256,
    max_wait_ms: Annotated[float, typer.Option(help="How long a request waits for others to batch with (milliseconds).")] = 5.0,
    max_body: Annotated[int, typer.Option(help="Largest request body in bytes (413 beyond).")] = 1_000_000,
    max_sentences: Annotated[int, typer.Option(help="Most sentences in one request (413 beyond).")] = 1000,
    max_tokens: Annotated[int, typer.Option(help="Most words in one sentence (413 beyond).")] = 1000,
    threads: Annotated[int, typer.Option(help=THREADS_HELP + " An export's ONNX Runtime session gets as many.")] = 1,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request (costs throughput).")] = False,
) -> None:
    """Serve models over HTTP: a JSON API (POST /v1/models/NAME/predict, GET /v1/models,
    /health, /ready, /docs) and a web page at /. Needs the serve extra: pip install "tagger[serve]"."""
    from ..serve.settings import ServeSettings

    settings = ServeSettings(max_batch=max_batch, max_wait_ms=max_wait_ms, max_body=max_body,
                             max_sentences=max_sentences, max_tokens=max_tokens, threads=threads)
    try:
        import uvicorn

        from ..serve.app import CONFIG_ENV, app_from_environment, create_app  # noqa: F401  (fails without FastAPI)
        from ..serve.models import load_models, parse_spec
    except ImportError as err:
        raise TaggerError(f'tagger serve needs FastAPI and uvicorn ({err}): pip install "tagger[serve]"') from None
    loaded = load_models(models, device, threads)  # a bad model directory is one line here, before anything listens
    names = ", ".join(loaded)
    options = {"host": host, "port": port, "access_log": access_log, "log_level": "info",
               "timeout_graceful_shutdown": None}
    signal.signal(signal.SIGTERM, _stopped)
    if workers > 1:
        del loaded  # each worker process loads its own copy
        specs = [f"{name}={path.resolve()}" for name, path in map(parse_spec, models)]  # the same names in every worker
        os.environ[CONFIG_ENV] = json.dumps({"models": specs, "device": device, "settings": settings.to_dict()})
        print(f"tagger serve: {workers} workers, models {names}", file=sys.stderr, flush=True)
        uvicorn.run("tagger.serve.app:app_from_environment", factory=True, workers=workers, **options)
        return
    config = uvicorn.Config(create_app(loaded, settings), **options)
    sock = config.bind_socket()
    bound = sock.getsockname()
    print(f"tagger serve: listening on http://{bound[0]}:{bound[1]} (models: {names})", file=sys.stderr, flush=True)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(1)


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM after uvicorn's graceful shutdown: uvicorn re-raises the signal it
    caught once it has finished; a stop that was asked for exits 0, not 143."""
