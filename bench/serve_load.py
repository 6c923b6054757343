"""Load on ``tagger serve``, over loopback only and bounded in time.

    python bench/serve_load.py                                   # a demo model (trained here, ~10 s), 60 s a phase
    python bench/serve_load.py --model runs/bench-conll2003/best # (the default when that folder exists)
    python bench/serve_load.py --seconds 5 --soak-minutes 0      # a quick check
    python bench/serve_load.py --soak-minutes 10                 # and the RSS soak
    python bench/serve_load.py --model runs/conll2003-int8-onnx  # a tagger export, on ONNX Runtime

Sentences are CoNLL-2003's valid split (``$TAGGER_DATA_DIR/conll2003`` or
``../shared/data/conll2003``; the benchmark skips, exit 0, without it). Steps:

1. offline: ``Tagger.predict_all`` over every sentence in chunks of 1,024, the way
   ``tagger predict`` runs it, on ``--threads`` PyTorch threads (best of 3; process
   start and model load not counted): words/s; and the model alone (no HTTP) on the
   batches each ``--clients`` count makes, one sentence per client: the most a load
   phase can reach;
2. ``tagger serve MODEL --threads N`` in a child process on 127.0.0.1 (a free port);
3. for each ``--clients`` count (16, then 256): that many concurrent clients (aiohttp,
   else httpx), each sending one sentence per request and the next as soon as the
   answer is in, for ``--seconds``; words/s answered, its ratio to offline, latency
   p50/p90/p99, errors (non-200 answers, failures, 30 s timeouts), the mean model
   batch (the server's own counters) and the server's RSS;
4. with ``--soak-minutes M``: 16 clients for M minutes; the server's RSS after
   minute 1 and at the end.

Client and server share the machine's cores: on a small machine the load generator's
own CPU time counts against the server (the JSON reports the machine's load).
Results: a table, and ``bench/results/serve_load.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

from benchutil import ROOT, find_data, proc_status_kb, train_tiny_model, write_result
from rich.console import Console
from rich.table import Table

console = Console()
TIMEOUT_S = 30.0


def load_sentences() -> list[list[str]] | None:
    from tagger.io.conll import read_conll2003

    data = find_data("conll2003", ("valid.txt",))
    return None if data is None else [s.words for s in read_conll2003(data / "valid.txt") if s.words]


def pick_model(given: str | None) -> Path:
    if given:
        return Path(given)
    real = ROOT / "runs" / "bench-conll2003" / "best"
    if real.exists():
        return real
    demo = ROOT / "runs" / "bench-serve-demo"
    if not (demo / "best" / "model.safetensors").exists():
        console.print("training a small demo model for the benchmark (tagger train demo, 3 epochs) ...")
        train_tiny_model(demo)
    return demo / "best"


def load_offline(model: Path, threads: int):
    """The model as ``tagger predict`` loads it (batches of 256; an export on ONNX Runtime)."""
    from tagger.parallel import load_for_tagging
    from tagger.runtime import command_threads, is_export_dir

    if is_export_dir(model):
        return load_for_tagging(model, "cpu", 256, command_threads(threads))
    import torch

    torch.set_num_threads(threads)
    return load_for_tagging(model, "cpu", 256)


def offline_words_per_second(loaded, sentences: list[list[str]]) -> tuple[float, float]:
    """What ``tagger predict`` does with a file: ``predict_all`` of the ``loaded`` model on
    chunks of 4 x 256 sentences. Words per second of wall time, and per second of CPU time."""
    words = sum(len(s) for s in sentences)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(sentences), 1024):
            loaded.predict_all(sentences[i : i + 1024])
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.process_time() - start_cpu)
    return words / best, words / best_cpu


def client_batches(sentences: list[list[str]], clients: int) -> list[list[list[str]]]:
    """The batches the server forms when ``clients`` clients each have one request in
    flight: one sentence from each client, where :class:`Load` starts them apart."""
    starts = [i * len(sentences) // clients for i in range(clients)]
    rounds = len(sentences) // clients
    return [[sentences[(start + k) % len(sentences)] for start in starts] for k in range(rounds)]


def model_alone_words_per_second(loaded, sentences: list[list[str]], clients: int) -> float:
    """The ceiling of a load phase: the server's own call (``predict_with_proba``) of the
    ``loaded`` model on the batches ``clients`` clients make, with no HTTP at all (best of 2)."""
    batches = client_batches(sentences, clients)
    words = sum(len(s) for batch in batches for s in batch)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        for batch in batches:
            loaded.predict_with_proba(batch)
        best = min(best, time.perf_counter() - start)
    return words / best


class Load:
    """``clients`` concurrent request loops over ``sentences`` for ``seconds``."""

    def __init__(self, url: str, sentences: list[list[str]], clients: int, seconds: float):
        self.url = url + "/v1/models/bench/predict"
        self.sentences, self.clients, self.seconds = sentences, clients, seconds
        self.latencies: list[float] = []
        self.words = self.errors = self.timeouts = 0
        self.error_samples: list[str] = []

    async def run(self) -> float:
        post = await self._poster()
        try:
            start = time.perf_counter()
            self.stop_at = start + self.seconds
            await asyncio.gather(*(self._client(i, post) for i in range(self.clients)))
            return time.perf_counter() - start
        finally:
            await self.close()

    async def _client(self, index: int, post) -> None:
        position = index * len(self.sentences) // self.clients  # clients start at different sentences
        while time.perf_counter() < self.stop_at:
            sentence = self.sentences[position % len(self.sentences)]
            position += 1
            sent = time.perf_counter()
            try:
                status = await asyncio.wait_for(post({"tokens": sentence}), TIMEOUT_S)
            except asyncio.TimeoutError:
                self.timeouts += 1
                continue
            except Exception as err:  # a refused or dropped connection: counted, not fatal
                self._error(f"{type(err).__name__}: {err}")
                continue
            if status != 200:
                self._error(f"HTTP {status}")
                continue
            self.latencies.append(time.perf_counter() - sent)
            self.words += len(sentence)

    def _error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)

    async def _poster(self):
        """A POST function on a pooled client: aiohttp where installed (less client CPU
        per request, which matters when client and server share the cores), else httpx."""
        try:
            import aiohttp

            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.clients), trust_env=False)
            self.close = session.close

            async def post(body: dict) -> int:
                async with session.post(self.url, json=body) as response:
                    await response.read()
                    return response.status

            self.library = f"aiohttp {aiohttp.__version__}"
        except ImportError:
            import httpx

            client = httpx.AsyncClient(limits=httpx.Limits(max_connections=self.clients), trust_env=False, timeout=None)
            self.close = client.aclose

            async def post(body: dict) -> int:
                return (await client.post(self.url, json=body)).status_code

            self.library = f"httpx {httpx.__version__}"
        return post


def served_counts(url: str) -> dict:
    from tagger.serve.launch import get_json

    status, body = get_json(url + "/v1/models/bench")
    return body["served"] if status == 200 else {"batches": 0, "sentences": 0}


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one by default), from /proc."""
    fields = Path(f"/proc/{pid or os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency_ms(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    at = lambda q: round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else None  # noqa: E731
    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)}


def run_phase(server, sentences: list[list[str]], clients: int, seconds: float, offline: tuple[float, float],
              alone: float) -> dict:
    """One load phase; ``alone`` is the model's words/s on this many clients' batches without HTTP."""
    pid = server.process.pid
    before, cpu_before = served_counts(server.url), (cpu_seconds(pid), cpu_seconds())
    load = Load(server.url, sentences, clients, seconds)
    elapsed = asyncio.run(load.run())
    after, cpu_after = served_counts(server.url), (cpu_seconds(pid), cpu_seconds())
    batches = after["batches"] - before["batches"]
    server_cpu = max(cpu_after[0] - cpu_before[0], 1e-9)
    return {
        "clients": clients, "seconds": round(elapsed, 2), "client": load.library,
        "requests": len(load.latencies), "words": load.words, "words_per_second": round(load.words / elapsed, 1),
        "ratio_to_offline": round(load.words / elapsed / offline[0], 3),
        # The most the phase could reach: the model alone on batches of one sentence per client.
        "model_alone_words_per_second": round(alone, 1), "model_alone_ratio_to_offline": round(alone / offline[0], 3),
        "ratio_to_model_alone": round(load.words / elapsed / alone, 3),
        "requests_per_second": round(len(load.latencies) / elapsed, 1), "latency_ms": latency_ms(load.latencies),
        "errors": load.errors, "timeouts": load.timeouts, "error_samples": load.error_samples,
        "mean_batch_sentences": round((after["sentences"] - before["sentences"]) / batches, 1) if batches else None,
        "server_rss_mb": round((proc_status_kb(pid, "VmRSS") or 0) / 1024, 1),
        # Cores busy on average: the server's (model thread + event loop) and the load generator's.
        "server_cores": round(server_cpu / elapsed, 2),
        "client_cores": round((cpu_after[1] - cpu_before[1]) / elapsed, 2),
        # Words per CPU-second of the server against offline's: the ratio on a machine
        # where the server got as much CPU as the offline run (a busy machine shares it out).
        "cpu_ratio_to_offline": round(load.words / server_cpu / offline[1], 3),
    }


def has_aiohttp() -> bool:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        console.print('the burst needs aiohttp (pip install -e ".[bench]"): skipped')
        return False
    return True


def burst(server, requests: int) -> dict:
    """``requests`` tiny requests all at once, each on its own connection; then the
    server must still answer /health."""
    import aiohttp  # httpx's pool slows down with the square of the requests waiting in it

    from tagger.serve.launch import get_json

    url = server.url + "/v1/models/bench/predict"

    async def run() -> list[object]:
        connector = aiohttp.TCPConnector(limit=requests, force_close=True)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:
            async def one(i: int) -> object:
                try:
                    async with session.post(url, json={"tokens": ["w", str(i)]}) as r:
                        await r.read()
                        return r.status
                except Exception as err:  # counted below
                    return type(err).__name__

            return await asyncio.gather(*(one(i) for i in range(requests)))

    start = time.perf_counter()
    statuses = asyncio.run(run())
    elapsed = time.perf_counter() - start
    failures: dict[str, int] = {}
    for status in statuses:
        if status != 200:
            failures[str(status)] = failures.get(str(status), 0) + 1
    return {"requests": requests, "seconds": round(elapsed, 2), "ok": statuses.count(200), "failures": failures,
            "healthy_after": get_json(server.url + "/health")[0] == 200}


def soak(server, sentences: list[list[str]], minutes: float) -> dict:
    """16 clients for ``minutes``; the server's RSS after the first minute and at the end."""
    rss: dict[str, float] = {}

    def sample(key: str) -> None:
        rss[key] = (proc_status_kb(server.process.pid, "VmRSS") or 0) / 1024

    async def run() -> Load:
        load = Load(server.url, sentences, 16, minutes * 60)
        asyncio.get_running_loop().call_later(60, sample, "after_minute_1_mb")
        await load.run()
        return load

    load = asyncio.run(run())
    sample("end_mb")
    first = rss.get("after_minute_1_mb")
    return {"minutes": minutes, "requests": len(load.latencies), "errors": load.errors, "timeouts": load.timeouts,
            "rss_mb": {k: round(v, 1) for k, v in rss.items()},
            "rss_growth": round((rss["end_mb"] - first) / first, 4) if first else None}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model directory (default: runs/bench-conll2003/best if present, else demo)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each load phase")
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--threads", type=int, default=1,
                        help="PyTorch (or, for an export, ONNX Runtime) threads, offline and in the server")
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=10_000, help="this many requests at once at the end (0: none)")
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="also run 16 clients this long; compare RSS")
    parser.add_argument("--name", default="serve_load", help="results go to bench/results/NAME.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sentences = load_sentences()
    if sentences is None:
        console.print("no CoNLL-2003 valid.txt in $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003: skipped")
        return
    from tagger.serve.launch import ServerProcess

    model = pick_model(args.model).resolve()
    loaded = load_offline(model, args.threads)
    offline = offline_words_per_second(loaded, sentences)
    console.print(f"offline: {offline[0]:,.0f} words/s ({offline[1]:,.0f} per CPU-second) on {args.threads} "
                  f"thread(s), {len(sentences):,} sentences")
    alone = {c: model_alone_words_per_second(loaded, sentences, min(c, args.max_batch)) for c in args.clients}
    del loaded
    console.print("the model alone on one sentence per client: "
                  + ", ".join(f"{c} clients {w:,.0f} words/s ({w / offline[0]:.0%} of offline)" for c, w in alone.items()))
    options = ["--threads", str(args.threads), "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    with tempfile.TemporaryDirectory() as tmp, ServerProcess([f"bench={model}"], Path(tmp) / "log", *options) as server:
        phases = []
        for clients in args.clients:
            phases.append(run_phase(server, sentences, clients, args.seconds, offline, alone[clients]))
            console.print(f"{clients} clients: {phases[-1]['words_per_second']:,.0f} words/s")
        soaked = soak(server, sentences, args.soak_minutes) if args.soak_minutes > 0 else None
        bursted = burst(server, args.burst) if args.burst > 0 and has_aiohttp() else None
        server_log = server.output()
    result = {
        "model": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model), "sentences": len(sentences),
        "words": sum(len(s) for s in sentences), "threads": args.threads, "max_batch": args.max_batch,
        "max_wait_ms": args.max_wait_ms, "offline_words_per_second": round(offline[0], 1),
        "offline_words_per_cpu_second": round(offline[1], 1), "phases": phases, "soak": soaked, "burst": bursted,
        "server_log_has_traceback": "Traceback" in server_log,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version()},
    }
    report(result)
    console.print(f"written: {write_result(args.name, result).relative_to(ROOT)}")


def report(result: dict) -> None:
    title = (f"tagger serve under load: {result['model']}, {result['threads']} thread(s), "
             f"offline {result['offline_words_per_second']:,.0f} words/s")
    table = Table(title=title)
    for column in ("clients", "words/s", "vs offline", "model alone vs offline", "req/s", "p50 ms", "p99 ms", "errors",
                   "mean batch", "RSS MB",
                   "cores srv/cli", "per CPU vs offline"):
        table.add_column(column, justify="right")
    for p in result["phases"]:
        table.add_row(str(p["clients"]), f"{p['words_per_second']:,.0f}", f"{p['ratio_to_offline']:.0%}",
                      f"{p['model_alone_ratio_to_offline']:.0%}",
                      f"{p['requests_per_second']:,.0f}", str(p["latency_ms"]["p50"]), str(p["latency_ms"]["p99"]),
                      str(p["errors"] + p["timeouts"]), str(p["mean_batch_sentences"]), str(p["server_rss_mb"]),
                      f"{p['server_cores']}/{p['client_cores']}", f"{p['cpu_ratio_to_offline']:.0%}")
    console.print(table)
    if result["burst"]:
        b = result["burst"]
        console.print(f"burst: {b['requests']:,} requests at once, {b['ok']:,} answered 200 in {b['seconds']} s, "
                      f"failures {b['failures'] or 'none'}, healthy after: {b['healthy_after']}")
    if result["soak"]:
        s = result["soak"]
        growth = "n/a" if s["rss_growth"] is None else f"{s['rss_growth']:.1%}"
        console.print(f"soak {s['minutes']} min: RSS {s['rss_mb']} (growth {growth}), "
                      f"{s['requests']:,} requests, {s['errors'] + s['timeouts']} errors")


if __name__ == "__main__":
    main()
