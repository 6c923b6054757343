"""An export and the runtime against an older checkout's: the same trained model exported
by each, then tagged by each checkout's runtime, in child processes, one thread, in
interleaved rounds, on CoNLL-2003 valid.

    git worktree add /tmp/before c03b4eb     # the runtime before the native recurrent ops
    python bench/export_before_after.py --before /tmp/before --model runs/conll2003/best

Each checkout exports ``--model`` (int8 unless ``--fp32``) with its own ``tagger export``
and tags with its own ``tagger.runtime``. Per checkout: the graph's node count, words/s
``offline`` (``predict_all`` on chunks of 1,024 sentences, as ``tagger predict`` runs)
and ``server16`` (``predict_with_proba`` on batches of 16 valid sentences, one from each
of 16 clients spread over the split, as ``tagger serve`` runs them under 16 clients;
bench/serve_load.py's ``client_batches``), after a warm-up batch, the best of two runs in
each of ``--rounds`` rounds, and the
entity F1 (seqeval strict). Ratios are after/before, each round's two runs back to back,
so a slower moment of this shared machine falls on both. Results: a table, and
``bench/results/export_before_after.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import find_data, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Run in a child process whose sys.path starts with the checkout under test.
CHILD = r'''
import json, sys, time
export, valid = sys.argv[1], sys.argv[2]
from tagger.io.conll import read_conll2003
from tagger.metrics import span_report
from tagger.runtime import load
sentences = [s for s in read_conll2003(valid) if s.words]
words = [s.words for s in sentences]
runtime = load(export, 1, 256)  # as tagger predict loads an export
starts = [i * len(words) // 16 for i in range(16)]
server = [[words[(start + k) % len(words)] for start in starts] for k in range(len(words) // 16)]
def timed(fn):  # the better of two runs
    times, out = [], None
    for _ in range(2):
        start = time.perf_counter(); out = fn(); times.append(time.perf_counter() - start)
    return min(times), out
runtime.predict_all(words[:256])  # a session's first batches are slow (allocations): not timed
offline_s, labels = timed(lambda: [l for i in range(0, len(words), 1024) for l in runtime.predict_all(words[i:i + 1024])])
server_s, _ = timed(lambda: [runtime.predict_with_proba(batch) for batch in server])
f1 = span_report([s.tags["ner"] for s in sentences], [l["ner"] for l in labels])["f1"]
n_words, n_server = sum(map(len, words)), sum(len(s) for b in server for s in b)
print(json.dumps({"offline": n_words / offline_s, "server16": n_server / server_s, "f1": f1}))
'''


def run_child(checkout: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, cwd=checkout)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {' '.join(args[:3])} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def export(checkout: Path, model: Path, out: Path, fp32: bool) -> int:
    """``tagger export`` of ``model`` by ``checkout`` into ``out``; the graph's node count."""
    quantize = [] if fp32 else ["--quantize", "int8"]
    run_child(checkout, "-m", "tagger", "export", str(model.resolve()), str(out), "--format", "onnx", *quantize)
    import onnx

    return len(onnx.load(str(out / "model.onnx")).graph.node)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="a checkout (git worktree) of the older code")
    parser.add_argument("--model", required=True, help="a trained model directory (PyTorch)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fp32", action="store_true", help="compare fp32 exports instead of int8")
    parser.add_argument("--name", default="export_before_after")
    args = parser.parse_args()
    data = find_data("conll2003", ("valid.txt",))
    if data is None:
        print("CoNLL-2003 not found (set TAGGER_DATA_DIR): skipped")
        return
    checkouts = {"before": Path(args.before).resolve(), "after": ROOT}
    results: dict[str, dict] = {name: {"runs": []} for name in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        for name, checkout in checkouts.items():
            results[name]["graph_nodes"] = export(checkout, Path(args.model), Path(tmp) / name, args.fp32)
        for _ in range(args.rounds):
            for name, checkout in checkouts.items():
                out = run_child(checkout, "-c", CHILD, str(Path(tmp) / name), str(data / "valid.txt"))
                results[name]["runs"].append(json.loads(out.strip().splitlines()[-1]))
    table = Table(title=f"export + runtime, {'fp32' if args.fp32 else 'int8'}, one thread, best of {args.rounds}")
    for column in ("checkout", "graph nodes", "offline words/s", "server16 words/s", "server16 / offline", "valid F1"):
        table.add_column(column, justify="right")
    for name, result in results.items():
        for workload in ("offline", "server16"):
            result[workload] = round(max(run[workload] for run in result["runs"]), 1)
        result["f1"] = result["runs"][0]["f1"]
        table.add_row(name, str(result["graph_nodes"]), f"{result['offline']:,.0f}", f"{result['server16']:,.0f}",
                      f"{result['server16'] / result['offline']:.3f}", f"{100 * result['f1']:.2f}")
    ratios = {w: round(results["after"][w] / results["before"][w], 3) for w in ("offline", "server16")}
    Console().print(table)
    Console().print(f"after / before: offline {ratios['offline']:.2f}x, server16 {ratios['server16']:.2f}x")
    path = write_result(args.name, {"model": args.model, "int8": not args.fp32, "rounds": args.rounds,
                                    "load_average": os.getloadavg(), "ratios": ratios, **results})
    Console().print(f"written: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
