"""``tagger serve`` as a client sees it: a real server (``python -m tagger serve`` in a
child process) on 127.0.0.1, spoken to over real HTTP. Answers are checked against
the Python API on the same sentences; every kind of bad input gets its status and a
one-line error naming the field or the limit; hostile input, 2,000 concurrent
requests and clients that hang up leave the server healthy; SIGTERM lets in-flight
requests finish and exits 0.
"""
from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import tagger  # noqa: E402
from tagger.serve.launch import ServerProcess  # noqa: E402

TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.char_dim=8", "embed.char_hidden=8", "train.threads=1",
        "embed.casing_dim=4"]
LIMITS = ["--max-body", "20000", "--max-sentences", "8", "--max-tokens", "60", "--max-wait-ms", "20"]
SENTENCE = "Peter Blackburn visited Brussels on Monday ."


def trained_models(tmp_path_factory) -> dict[str, Path]:
    """Two tiny models, trained once per test session (the other serve tests reuse
    them): a multitask tagger on the demo data (ner and chunk spans, pos tags) and a
    sentiment classifier with attention pooling. Both run directories hold metrics.jsonl."""
    from rich.console import Console

    from tagger.config import load_recipe
    from tagger.train import train

    root = tmp_path_factory.getbasetemp() / "serve-models"
    runs = {"news": root / "news", "sentiment": root / "sentiment"}
    if not (root / "done").exists():
        quiet = Console(file=io.StringIO())
        train(load_recipe("conll2003-multitask", TINY + ["data.source=demo", "encoder.layers=1", "train.max_epochs=3"]),
              runs["news"], quiet)
        train(load_recipe("sentiment-demo", TINY + ["train.max_epochs=2", "heads.0.attention_dim=8"]),
              runs["sentiment"], quiet)
        (root / "done").touch()
    return {name: run / "best" for name, run in runs.items()}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return trained_models(tmp_path_factory)


@pytest.fixture(scope="module")
def offline(models):
    return {name: tagger.load(path) for name, path in models.items()}


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    """One server for the module: the tagger named on the command line (NAME=PATH), the
    classifier by its folder (a run's best/ is named after the run), small limits."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with ServerProcess([f"news={models['news']}", str(models["sentiment"])], log, *LIMITS) as running:
        yield running
    assert "Traceback" not in running.output() and "ERROR" not in running.output(), running.output()[-3000:]


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, trust_env=False, timeout=60) as http:
        yield http


def predict(client, model: str, body: dict | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"/v1/models/{model}/predict", content=content, headers={"Content-Type": "application/json"})


def assert_one_line_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    message = body["error"]
    assert "\n" not in message and "Traceback" not in message and 'File "' not in message
    for word in words:
        assert word in message, message


# -- start-up -----------------------------------------------------------------


@pytest.mark.parametrize("args,message", [
    (["/nonexistent/model"], "model directory does not exist"),
    (["{news}", "{news}"], "two models are named 'news'"),
    (["bad name={news}"], "'bad name' cannot be a model name"),
    (["{lm}"], "a language model"),
    (["{news}", "--max-batch", "0"], "--max-batch must be positive"),
])
def test_bad_command_lines_are_one_line_before_anything_listens(models, tmp_path, args, message):
    from typer.testing import CliRunner

    from tagger.cli import app

    (tmp_path / "lm" / "best").mkdir(parents=True)
    (tmp_path / "lm" / "best" / "lm.json").write_text("{}")
    paths = {"news": models["news"].parent, "lm": tmp_path / "lm"}
    result = CliRunner().invoke(app, ["serve", *(a.format(**paths) for a in args)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output


# -- answers ------------------------------------------------------------------


def test_text_gets_the_python_apis_tags_with_character_offsets(client, offline):
    text = "Peter  Blackburn visited Brussels,\ton Monday."  # two spaces, a tab: offsets must follow the text
    response = predict(client, "news", {"text": text})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "news" and len(body["sentences"]) == 1
    sentence = body["sentences"][0]
    words = offline["news"].words(text)
    expected = offline["news"].predict_all([text])[0]
    assert sentence["text"] == text and sentence["tokens"] == words
    assert sentence["offsets"][:3] == [[0, 5], [7, 16], [17, 24]]
    assert [text[s:e] for s, e in sentence["offsets"]] == words
    assert sentence["tags"] == {task: expected[task] for task in ("ner", "pos", "chunk")}
    assert set(sentence["spans"]) == {"ner", "chunk"}  # span tasks; pos is tags only
    assert sentence["labels"] == {} and sentence["probabilities"] == {} and "attention" not in sentence
    for task, spans in sentence["spans"].items():
        tags = expected[task]
        assert sum(tag.startswith("B-") for tag in tags) == len(spans)
        for span in spans:
            assert tags[span["token_start"]] == "B-" + span["label"]
            assert all(tag == "I-" + span["label"] for tag in tags[span["token_start"] + 1 : span["token_end"]])
            assert span["start"] == sentence["offsets"][span["token_start"]][0]
            assert span["end"] == sentence["offsets"][span["token_end"] - 1][1]
            assert span["text"] == text[span["start"] : span["end"]]


def test_batches_keep_their_order_and_empty_sentences_get_empty_results(client, offline):
    texts = ["EU rejects German call to boycott British lamb .", "", SENTENCE, "   "]
    body = predict(client, "news", {"texts": texts}).json()
    expected = offline["news"].predict_all([texts[0], texts[2]])
    got = body["sentences"]
    assert [s["text"] for s in got] == texts
    assert got[0]["tags"]["ner"] == expected[0]["ner"] and got[2]["tags"]["ner"] == expected[1]["ner"]
    for empty in (got[1], got[3]):
        assert empty["tokens"] == [] and empty["offsets"] == []
        assert empty["tags"] == {"ner": [], "pos": [], "chunk": []} and empty["spans"] == {"ner": [], "chunk": []}
    sentences = [SENTENCE.split(), [], ["EU", "rejects"]]
    body = predict(client, "news", {"sentences": sentences}).json()
    assert [s["tokens"] for s in body["sentences"]] == sentences
    assert body["sentences"][0]["text"] == SENTENCE  # tokens come back joined by spaces, with offsets into that
    assert body["sentences"][0]["tags"]["pos"] == offline["news"].predict([SENTENCE.split()], task="pos")[0]
    assert body["sentences"][2]["tags"]["chunk"] == offline["news"].predict([["EU", "rejects"]], task="chunk")[0]
    single = predict(client, "news", {"tokens": ["EU", "rejects"]}).json()["sentences"]
    assert single == [body["sentences"][2]]
    assert predict(client, "news", {"text": ""}).json()["sentences"][0]["tokens"] == []
    assert predict(client, "news", {"texts": []}).json() == {"model": "news", "sentences": []}


def test_classifier_labels_probabilities_and_attention(client, offline):
    texts = ["a gripping , funny film", "dull and far too long", ""]
    response = predict(client, "sentiment", {"texts": texts, "explain": True})
    assert response.status_code == 200
    got = response.json()["sentences"]
    model = offline["sentiment"]
    labels, proba = model.predict_with_proba(texts[:2])
    weights = model.explain(texts[:2])
    for sentence, lab, prob, pairs in zip(got, labels, proba, weights):
        assert sentence["labels"] == lab
        assert sentence["probabilities"]["sentiment"] == pytest.approx(prob["sentiment"])
        assert sentence["attention"]["sentiment"] == pytest.approx([w for _, w in pairs])
        assert sum(sentence["attention"]["sentiment"]) == pytest.approx(1.0, abs=1e-4)
        assert sentence["tags"] == {} and sentence["spans"] == {}
    assert got[2]["labels"] == {"sentiment": []} and got[2]["attention"] == {"sentiment": []}
    plain = predict(client, "sentiment", {"text": texts[0]}).json()["sentences"][0]
    assert "attention" not in plain and plain["labels"] == got[0]["labels"]


def test_model_listing_health_readiness_and_docs(client, models):
    listing = client.get("/v1/models").json()
    assert [m["name"] for m in listing["models"]] == ["news", "sentiment"]
    news, sentiment = listing["models"]
    assert [(t["name"], t["level"], t["span"]) for t in news["tasks"]] == [
        ("ner", "token", True), ("pos", "token", False), ("chunk", "token", True)]
    assert "B-PER" in news["tasks"][0]["labels"] and "<pad>" not in news["tasks"][0]["labels"]
    assert sentiment["tasks"][0] | {"labels": None} == {
        "name": "sentiment", "kind": "classify", "level": "sentence", "span": False, "multi_label": False,
        "attention": True, "labels": None}
    assert sorted(sentiment["tasks"][0]["labels"]) == ["negative", "positive"]
    epochs = [json.loads(line) for line in (models["news"] / "metrics.jsonl").read_text().splitlines()]
    best = max(epochs, key=lambda e: e["dev_score"])
    assert news["training"]["epochs"] == len(epochs) == 3
    assert news["training"]["dev_score"] == pytest.approx(best["dev_score"])
    assert listing["limits"]["max_sentences"] == 8 and listing["limits"]["max_body"] == 20000
    assert "path" not in json.dumps(listing)  # where the models live is not the clients' business
    assert client.get("/v1/models/sentiment").json()["name"] == "sentiment"
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"ready": True, "models": ["news", "sentiment"]}
    schema = client.get("/openapi.json").json()
    request = schema["paths"]["/v1/models/{name}/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert set(request["schema"]["properties"]) == {"text", "tokens", "texts", "sentences", "explain"}


def test_the_page_and_its_assets_come_from_the_app(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "/static/app.js" in page.text and "http" not in page.text.split("<body>")[0]  # no CDN in the head
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200


DOCS_ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def test_the_api_docs_come_from_the_app(client):
    """Swagger UI at /docs: the page names no other host, and its script, style and icon
    are served here (FastAPI's own page would load them from a CDN); no ReDoc."""
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert re.findall(r"(?:https?:)?//[\w.-]+", page.text) == []  # no absolute or protocol-relative URL
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(Path(a).suffix for a in assets) == [".css", ".js", ".svg"], assets
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].startswith(DOCS_ASSET_TYPES[Path(asset).suffix]), answer.headers
    script = client.get(next(a for a in assets if a.endswith(".js"))).text
    assert "SwaggerUIBundle" in script and len(script) > 500_000  # the whole bundle, not a stub
    assert "url: '/openapi.json'" in page.text and client.get("/openapi.json").status_code == 200
    assert_one_line_error(client.get("/redoc"), 404)


# -- bad input ----------------------------------------------------------------

MALFORMED = [
    (b'{"text": ', 400, "malformed JSON"),
    (b'{"text": "caf\xe9 au lait"}', 400, "not UTF-8", "0xe9"),
    (b'{"text": "a\x01b"}', 400, "malformed JSON"),  # a raw control character inside a JSON string
    (b"[" * 5000, 400, "malformed JSON"),  # nested deeper than the parser recurses
    (b'{"text": ' + b"9" * 5000 + b"}", 400, "malformed JSON"),  # an integer too long to convert
    (b"", 422, "body"),
    (b"   ", 422, "body"),
    (b"{}", 422, "body", "one of text, tokens, texts, sentences"),
    (b"[]", 422, "body"),
    (b"null", 422, "body"),
    (b'"EU rejects"', 422, "body"),
    (b'{"text": null}', 422, "body"),
    (b'{"text": 5}', 422, "text", "string"),
    (b'{"tokens": "EU rejects"}', 422, "tokens", "list"),
    (b'{"texts": ["a", ["b"]]}', 422, "texts[1]"),
    (b'{"sentences": [["EU", 3]]}', 422, "sentences[0][1]", "string"),
    (b'{"text": "a", "tokens": ["a"]}', 422, "not text and tokens together"),
    (b'{"text": "a", "model": "/etc/passwd"}', 422, "model", "unknown field"),
    (b'{"text": "a", "explain": "yes"}', 422, "explain"),
    (b'{"text": "a", "explain": true}', 422, "explain", "no classifier with attention"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[repr(c[0][:24]) for c in MALFORMED])
def test_bad_bodies_get_a_clear_status_and_one_line(client, case):
    body, status, *words = case
    assert_one_line_error(predict(client, "news", body), status, *words)


def test_limits_are_413_and_name_the_limit(client):
    assert_one_line_error(predict(client, "news", {"texts": ["a"] * 9}), 413, "9 sentences", "--max-sentences", "8")
    assert predict(client, "news", {"texts": ["a"] * 8}).status_code == 200
    assert_one_line_error(predict(client, "news", {"texts": ["a", "b " * 61]}), 413, "sentence 1", "--max-tokens", "60")
    assert predict(client, "news", {"tokens": ["b"] * 60}).status_code == 200
    big = {"text": "word " * 5000}  # 25 kB
    assert_one_line_error(predict(client, "news", big), 413, "--max-body", "20,000")

    def chunks():  # no Content-Length: the limit holds while the body streams in
        yield b'{"text": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}'

    streamed = client.post("/v1/models/news/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert_one_line_error(streamed, 413, "--max-body")


def test_unknown_models_paths_and_methods(client):
    assert_one_line_error(predict(client, "nope", {"text": "a"}), 404, "no model 'nope'", "news, sentiment")
    assert_one_line_error(predict(client, "..%2F..%2Fetc", {"text": "a"}), 404)
    assert_one_line_error(client.get("/v1/models/nope"), 404, "nope")
    assert_one_line_error(client.get("/v1/models/news/predict"), 405)
    assert_one_line_error(client.get("/nothing/here"), 404)


# -- hostile input and load ---------------------------------------------------


def test_control_characters_and_lone_surrogates_are_tagged_not_fatal(client, offline):
    text = "EU\u0000 rejects\u0007 German\u001b[31m call\u2028 to boycott British lamb\ufeff."
    sentence = predict(client, "news", {"text": text}).json()["sentences"][0]
    assert sentence["tokens"] == offline["news"].words(text)
    assert sentence["tags"]["ner"] == offline["news"].predict([text])[0]
    raw = b'{"text": "EU \\ud800 rejects \\udfff"}'  # valid JSON escapes, but no valid UTF-8 for them
    response = predict(client, "news", raw)
    assert response.status_code == 200
    assert json.loads(response.content)["sentences"][0]["text"] == "EU \ud800 rejects \udfff"


async def post_once(url: str, path: str, body: dict) -> tuple[int, dict]:
    """One POST on its own connection (``Connection: close``), as plain HTTP/1.1 on a
    socket: httpx's connection pool slows down with the square of the requests
    waiting in it (27 s for 2,000 at once, against 4 s for the server's share)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    data = json.dumps(body).encode()
    writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (path.encode(), host.encode(), len(data), data))
    answer = await reader.read()  # to the end: the server closes after its answer
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(payload)


def test_two_thousand_concurrent_requests_all_answered_correctly(client, offline):
    """2,000 connections at once, each a one-sentence request: every answer right, and
    micro-batching put many requests in each model batch."""
    cities = ["Brussels", "Paris", "London", "Bonn", "Madrid", "Moscow", "Tokyo", "Lima"]
    sentences = [[name, "visited", cities[i % len(cities)], str(i)] for i, name in enumerate(["Peter", "Anna"] * 1000)]
    expected = [labels["ner"] for labels in offline["news"].predict_all(sentences)]
    before = client.get("/v1/models/news").json()["served"]

    async def run() -> list[tuple[int, dict]]:
        url = str(client.base_url)
        return await asyncio.gather(*(post_once(url, "/v1/models/news/predict", {"tokens": s}) for s in sentences))

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [200] * len(sentences)
    assert [body["sentences"][0]["tags"]["ner"] for _, body in answers] == expected
    after = client.get("/v1/models/news").json()["served"]
    assert after["sentences"] - before["sentences"] == len(sentences)
    assert after["batches"] - before["batches"] < len(sentences) / 4
    assert client.get("/health").json() == {"status": "ok"}


def raw_http(url: str, data: bytes, read: bool = False) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        return sock.recv(65536) if read else b""


def test_clients_that_hang_up_leave_the_server_healthy(client, server, offline):
    body = json.dumps({"text": SENTENCE}).encode()
    head = b"POST /v1/models/news/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    raw_http(server.url, head + b"Content-Length: 5000\r\n\r\n" + body[:10])  # gone in the middle of the body
    raw_http(server.url, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)  # gone before the answer
    raw_http(server.url, head)  # gone in the middle of the headers
    raw_http(server.url, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)))  # TLS to a plain port
    assert b"400" in raw_http(server.url, b"GARBAGE / HTTP/1.1\r\n\r\n", read=True).split(b"\r\n")[0]
    time.sleep(0.5)
    answer = predict(client, "news", {"text": SENTENCE})
    assert answer.status_code == 200
    assert answer.json()["sentences"][0]["tags"]["ner"] == offline["news"].predict([SENTENCE])[0]
    assert "Traceback" not in server.output()


# -- shutdown -----------------------------------------------------------------


def test_sigterm_finishes_in_flight_requests_and_exits_0(models, offline, tmp_path):
    """Six requests wait together for their batch (--max-wait-ms 3000); SIGTERM comes
    while they wait: the server stops accepting, answers all six, exits 0."""
    server = ServerProcess([f"news={models['news']}"], tmp_path / "server.log", "--max-wait-ms", "3000")
    server.start()
    texts = [f"{SENTENCE} {i}" for i in range(6)]
    answers: dict[int, httpx.Response] = {}

    def ask(i: int) -> None:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
            answers[i] = http.post("/v1/models/news/predict", json={"text": texts[i]})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    try:
        for thread in threads:
            thread.start()
        with httpx.Client(base_url=server.url, trust_env=False) as http:
            assert wait_for(lambda: http.get("/v1/models/news").json()["served"]["queued"] == 6)  # all in flight
        server.process.send_signal(15)
        assert wait_for(lambda: not accepts(server.url))  # no longer accepting
        for thread in threads:
            thread.join(30)
        assert server.process.wait(30) == 0
    finally:
        server.stop()
    expected = offline["news"].predict(texts)
    assert [answers[i].status_code for i in range(6)] == [200] * 6
    assert [answers[i].json()["sentences"][0]["tags"]["ner"] for i in range(6)] == expected
    log = server.output()
    assert "model 'news': 6 sentences in 1 batches" in log and "Traceback" not in log


def test_two_worker_processes_answer_and_stop_on_sigterm(models, offline, tmp_path):
    """``--workers 2``: two processes share the port, each with its own copy of the
    models; answers are the Python API's; SIGTERM stops both gracefully and exits 0."""
    server = ServerProcess([f"news={models['news']}"], tmp_path / "server.log", "--workers", "2")
    server.start()
    try:
        texts = [f"{SENTENCE} {i}" for i in range(4)] + ["EU rejects German call to boycott British lamb ."]

        async def ask_all() -> list[tuple[int, dict]]:  # at once, on their own connections
            return await asyncio.gather(*(post_once(server.url, "/v1/models/news/predict", {"text": t})
                                          for t in texts * 4))

        answers = asyncio.run(ask_all())
        assert [status for status, _ in answers] == [200] * len(texts) * 4
        expected = offline["news"].predict_all(texts) * 4
        assert [body["sentences"][0]["tags"] for _, body in answers] == expected
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
            assert http.get("/ready").json() == {"ready": True, "models": ["news"]}
        started = time.monotonic()
        server.process.send_signal(15)
        assert server.process.wait(30) == 0
        assert time.monotonic() - started < 30
    finally:
        server.stop()
    log = server.output()
    served = [int(n) for n in re.findall(r"model 'news': (\d+) sentences in \d+ batches", log)]
    assert len(served) == 2 and sum(served) == len(answers), log[-3000:]  # both workers stopped gracefully
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def test_export_directories_are_served_on_onnx_runtime_without_torch(models, tmp_path):
    """``tagger export`` directories serve as model directories do, on ONNX Runtime:
    the runtime's own tags and probabilities, ``backend`` in the listing, a 422 for
    ``explain`` (the graph gives no attention weights), and no PyTorch in the process."""
    from tagger.export import export_model

    exports = {name: export_model(path, tmp_path / name) for name, path in models.items()}
    runtimes = {name: tagger.load(path) for name, path in exports.items()}
    texts = [SENTENCE, "EU rejects German call to boycott British lamb .", "a great , warm film"]
    with ServerProcess([f"{name}={path}" for name, path in exports.items()], tmp_path / "server.log") as server:
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        with httpx.Client(base_url=server.url, trust_env=False, timeout=60) as http:
            news = predict(http, "news", {"texts": texts}).json()["sentences"]
            sentiment = predict(http, "sentiment", {"texts": texts}).json()["sentences"]
            listed = {m["name"]: m["backend"] for m in http.get("/v1/models").json()["models"]}
            explained = predict(http, "sentiment", {"text": texts[2], "explain": True})
    assert [s["tags"] for s in news] == runtimes["news"].predict_all(texts)
    spans = [[(e["label"], e["token_start"], e["token_end"]) for e in s["spans"]["ner"]] for s in news]
    assert spans == [[tuple(e) for e in found] for found in runtimes["news"].predict_spans(texts, "ner")]
    labels, proba = runtimes["sentiment"].predict_with_proba(texts)
    assert [s["labels"] for s in sentiment] == labels
    for answer, expected in zip(sentiment, proba, strict=True):
        assert answer["probabilities"]["sentiment"] == pytest.approx(expected["sentiment"], abs=1e-6)
    assert listed == {"news": "onnxruntime", "sentiment": "onnxruntime"}
    assert_one_line_error(explained, 422, "explain", "ONNX export")
    assert "libtorch" not in maps and "onnxruntime" in maps
    from tagger.errors import TaggerError
    from tagger.serve.models import load_model

    with pytest.raises(TaggerError, match="an ONNX export runs on the CPU"):
        load_model("news", exports["news"], device="cuda")


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def accepts(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


# -- the page in a real browser -----------------------------------------------


def chromium() -> str | None:
    """Debian's chromium (``apt-get install chromium``); never a browser downloaded at test time."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_in_a_real_browser(client, server, tmp_path):
    """Headless chromium driven by Playwright: type, press the button, find the entities
    highlighted, the tags under the tokens, the classifier's bars and the attention
    heat map in the DOM; nothing loaded from anywhere but the server. Screenshots go
    to the test's tmp_path."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    executable = chromium()
    if executable is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    text = "Peter Blackburn visited Brussels on Monday.\nEU rejects German call to boycott British lamb."
    expected = predict(client, "news", {"texts": text.split("\n")}).json()["sentences"]
    assert any(s["spans"]["ner"] for s in expected)  # the tiny model does find entities here
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            loaded, problems = [], []
            page.on("request", lambda r: loaded.append(r.url))
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(server.url + "/")
            page.wait_for_selector("#model option[value=news]", state="attached")
            page.select_option("#model", "news")
            page.fill("#text", text)
            page.click("#analyze")
            page.wait_for_selector(".sentence")
            marks = page.eval_on_selector_all(
                ".sentence .ents mark.entity", "ms => ms.map(m => [m.firstChild.textContent, m.dataset.label])")
            assert marks == [[s["text"], s["label"]] for sentence in expected for s in sentence["spans"]["ner"]]
            pos = page.eval_on_selector_all(".sentence:first-child .tag[data-task=pos]",
                                            "ts => ts.map(t => t.textContent)")
            assert pos == expected[0]["tags"]["pos"]
            page.screenshot(path=str(tmp_path / "serve-news.png"), full_page=True)

            page.select_option("#model", "sentiment")
            page.fill("#text", "a gripping , funny film")
            page.click("#analyze")
            page.wait_for_selector(".sentence .classes")
            assert page.locator(".sentence .bar").count() == 2
            assert page.locator(".sentence .bar.chosen .label").inner_text() in ("positive", "negative")
            assert page.locator(".sentence .heat span").count() == 5  # a shade per word
            page.screenshot(path=str(tmp_path / "serve-sentiment.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert loaded and all(url.startswith(server.url + "/") for url in loaded), loaded
    assert (tmp_path / "serve-news.png").stat().st_size > 10_000


def test_the_api_docs_render_offline_in_a_real_browser(server, tmp_path):
    """Swagger UI at /docs in headless chromium with every request to another host
    refused (as on a machine without network): it renders the API, the predict
    operation included, and asks for nothing outside the server."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    executable = chromium()
    if executable is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    blocked, problems = [], []

    def only_the_server(route) -> None:
        if route.request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.route("**/*", only_the_server)
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.goto(server.url + "/docs")
            operation = page.locator(".swagger-ui .opblock-summary-path", has_text="/v1/models/{name}/predict")
            operation.wait_for(timeout=30_000)
            assert operation.count() == 1
            assert page.locator(".swagger-ui .opblock-post").count() == 1  # predict is the one POST
            assert "tagger" in page.locator(".swagger-ui .info .title").inner_text()
            page.screenshot(path=str(tmp_path / "serve-docs.png"), full_page=True)
        finally:
            browser.close()
    assert blocked == [] and problems == []
    assert (tmp_path / "serve-docs.png").stat().st_size > 10_000


class Echo:
    """A stand-in model that tags every word O and records the jobs of each batch."""

    reads_documents = False

    def __init__(self):
        self.batches: list[int] = []

    def predict_with_proba(self, words, docs=None):
        self.batches.append(len(words))
        return [{"ner": ["O"] * len(w)} for w in words], [{} for _ in words]


def closed_loop(clients: int, requests: list[int], max_wait_s: float) -> tuple[list[int], float]:
    """``clients`` concurrent clients, client i sending ``requests[i]`` one-sentence requests,
    each after the answer to its last; the model's batch sizes and the seconds it all took."""
    from concurrent.futures import ThreadPoolExecutor

    from tagger.serve.batching import MicroBatcher
    from tagger.serve.models import ServedModel

    echo = Echo()

    async def main() -> float:
        batcher = MicroBatcher(ServedModel("echo", echo, ["ner"], []), ThreadPoolExecutor(1, "model"),
                               max_batch=256, max_wait_s=max_wait_s)
        batcher.start()

        async def client(i: int) -> None:
            for _ in range(requests[i]):
                assert [p.labels for p in await batcher.predict([["a", "b"]], False)] == [{"ner": ["O", "O"]}]

        start = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
        await batcher.stop()
        return elapsed

    elapsed = asyncio.run(main())
    return echo.batches, elapsed


def test_a_batch_waits_only_for_the_clients_it_can_still_get():
    """--max-wait-ms is a bound, not a toll: once every client the last batch answered
    is back, the batch starts. With a 1 s max-wait, a lone client and 4 clients in
    lock-step wait it out on their first batch only (nothing is known yet; 5 s if they
    waited on all 5), and the 4 stay in one batch."""
    batches, elapsed = closed_loop(1, [5], max_wait_s=1.0)
    assert batches == [1] * 5 and 0.98 <= elapsed < 1.9
    batches, elapsed = closed_loop(4, [5] * 4, max_wait_s=1.0)
    assert batches == [4] * 5 and 0.98 <= elapsed < 1.9


def test_a_batch_still_waits_for_a_client_that_does_not_come_back():
    """Of 2 clients the second stops after one request: the first's next request waits
    the whole max-wait (0.3 s) for it, then goes alone; the one after no longer waits
    (and the first batch waited 0.3 s too)."""
    batches, elapsed = closed_loop(2, [3, 1], max_wait_s=0.3)
    assert batches == [2, 1, 1] and 0.58 <= elapsed < 0.85


def test_the_heap_is_trimmed_every_so_many_sentences(monkeypatch):
    """Freed heap memory goes back to the OS every TRIM_SENTENCES sentences, in the model
    thread after the answers are out (a long-running server's RSS stays flat)."""
    from concurrent.futures import ThreadPoolExecutor

    from tagger.serve import batching
    from tagger.serve.models import ServedModel

    trims = []
    monkeypatch.setattr(batching, "TRIM_SENTENCES", 5)
    monkeypatch.setattr(batching, "release_freed_memory", lambda: trims.append(threading.current_thread().name))

    async def main() -> list:
        batcher = batching.MicroBatcher(ServedModel("echo", Echo(), ["ner"], []), ThreadPoolExecutor(1, "model"),
                                        max_batch=2, max_wait_s=0)
        batcher.start()
        answers = [await batcher.predict([["a"], ["b", "c"]], False) for _ in range(7)]  # a batch each, 2 sentences
        await batcher.stop()
        return answers

    answers = asyncio.run(main())
    assert [p.labels for p in answers[-1]] == [{"ner": ["O"]}, {"ner": ["O", "O"]}]
    assert len(trims) == 2 and all(name.startswith("model") for name in trims)  # after sentences 6 and 12
