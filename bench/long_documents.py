"""Document-length prediction benchmark: a sentence classifier on 500-token inputs.

    python bench/long_documents.py                       # trains a small model first (seconds)
    python bench/long_documents.py --model runs/bench-sst2/max/best
    python bench/long_documents.py --model runs/imdb --docs 500 --tokens 500

Measures, on one thread, documents/s and tokens/s for ``Tagger.predict`` on
synthetic documents of ``--tokens`` words (SST-2 training sentences, shuffled
with a fixed seed and run together, when $TAGGER_DATA_DIR/sst2 or
../shared/data/sst2 has them, else the invented sample in data/sentiment; so
words repeat as in real text), end to end (tokenizing
raw text included) and model only (pre-encoded), against a bare 1-layer BiLSTM
of the model's shape (its embedding size in, its hidden size) run over the same
lengths in the same process: the machine is noisy, the ratio is not, and the
ratio is what the embeddings (the char CNN, mostly), pooling and decoding cost
on top of the recurrent layer. Also the peak memory (resident set size
above the level before predicting) for the batch and for a single document of
``--long-tokens`` words. A model with ``data.max_tokens`` reads only that many
words of each document; the tokens it actually read are reported. Results:
bench/results/long_documents.json.

The default model has the sst2 recipe's architecture (200-dim words, char CNN,
BiLSTM 2x200, max pooling) trained for one epoch on the small sample: speed
does not depend on what the weights learned.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import threading
import time
from pathlib import Path

import torch
from benchutil import ROOT, best_of, find_data, write_result  # noqa: E402  (puts the checkout on sys.path)
from rich.console import Console
from rich.table import Table

from tagger.batching import encode  # noqa: E402
from tagger.config import load_recipe  # noqa: E402
from tagger.model import resolve_model_dir  # noqa: E402
from tagger.predict import Tagger, decode_corpus  # noqa: E402
from tagger.train import train  # noqa: E402

console = Console()


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident set size while the block runs, above the level at its start
    (sampled every millisecond in a thread)."""

    def __enter__(self) -> "PeakMemory":
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def above_start(self) -> int:
        return self.peak - self.start


def sentences() -> tuple[list[list[str]], str]:
    data = find_data("sst2", ("train.tsv",))
    path = (data / "train.tsv") if data else ROOT / "data" / "sentiment" / "train.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [line.rsplit("\t", 1)[0].split() for line in lines], str(path)


def documents(pool: list[list[str]], n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` texts of exactly ``length`` words: shuffled sentences run together."""
    rng = random.Random(seed)
    docs, words = [], []
    while len(docs) < n:
        words += rng.choice(pool)
        if len(words) >= length:
            docs.append(" ".join(words[:length]))
            words = []
    return docs


def baseline_bilstm(lengths: list[int], in_dim: int, hidden: int, batch_size: int) -> float:
    """Seconds for a bare 1-layer BiLSTM (``in_dim`` inputs) over the same lengths, packed."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(in_dim, hidden, batch_first=True, bidirectional=True).eval()
    order = sorted(lengths, reverse=True)
    batches = []
    for i in range(0, len(order), batch_size):
        chunk = torch.tensor(order[i : i + batch_size])
        batches.append((torch.randn(len(chunk), int(chunk[0]), in_dim), chunk))

    def run() -> None:
        with torch.inference_mode():
            for x, lens in batches:
                lstm(torch.nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True))

    return best_of(run)


def default_model(output: Path) -> Path:
    recipe = load_recipe("sst2", ["data.source=sentiment-demo", "train.max_epochs=1", "train.threads=1"])
    recipe.name = "long-documents-bench"
    return train(recipe, output, Console(stderr=True, quiet=True)).model_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a classifier model directory (default: train a small one)")
    parser.add_argument("--docs", type=int, default=200, help="number of documents")
    parser.add_argument("--tokens", type=int, default=500, help="words per document")
    parser.add_argument("--long-tokens", type=int, default=5000, help="words of the single long document (memory)")
    parser.add_argument("--batch-size", type=int, default=32, help="documents per prediction batch")
    parser.add_argument("--output", type=Path, default=Path("runs/bench-long-documents"), help="where the default model is trained")
    args = parser.parse_args()

    torch.set_num_threads(1)
    model_dir = resolve_model_dir(args.model) if args.model else default_model(args.output)
    tagger = Tagger.load(model_dir)
    tagger.batch_size = args.batch_size
    if not tagger.sentence_tasks:
        print(f"skipped: {model_dir} is not a sentence classifier (tasks: {', '.join(tagger.tasks)})")
        return 0
    pool, source = sentences()
    # Only words the model's tokenizer keeps whole, so a document is exactly --tokens tokens.
    keep = {w for s in pool for w in s}
    keep = {w for w in keep if tagger.words(w) == [w]}
    pool = [[w for w in s if w in keep] for s in pool]
    pool = [s for s in pool if s]
    texts = documents(pool, args.docs, args.tokens)
    read = [tagger.words(t) for t in texts]
    n_tokens = sum(len(w) for w in read)

    tagger.predict(texts[:4])  # warm-up
    with PeakMemory() as memory:
        end_to_end = best_of(lambda: tagger.predict(texts))
    encoded = [encode(w, tagger.model.vocabs, with_labels=False) for w in read]
    model_only = best_of(lambda: decode_corpus(tagger.model, encoded, tagger.batch_size))
    hidden = tagger.model.recipe.encoder.hidden
    in_dim = tagger.model.embedder.out_dim
    baseline = baseline_bilstm([len(w) for w in read], in_dim, hidden, args.batch_size)
    long_text = documents(pool, 1, args.long_tokens, seed=1)[0]
    with PeakMemory() as long_memory:
        start = time.perf_counter()
        tagger.predict([long_text])
        long_seconds = time.perf_counter() - start

    result = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": 1,
        "torch": torch.__version__,
        "model_dir": str(model_dir),
        "encoder": tagger.model.recipe.encoder.__dict__,
        "embedding_dim": in_dim,
        "char_encoder": tagger.model.recipe.embed.char_encoder,
        "pooling": tagger.model.recipe.heads[0].pooling,
        "max_tokens": tagger.model.recipe.data.max_tokens,
        "text_from": source,
        "documents": args.docs,
        "words_per_document": args.tokens,
        "tokens_read": n_tokens,
        "batch_size": args.batch_size,
        "docs_per_s": args.docs / end_to_end,
        "tokens_per_s": n_tokens / end_to_end,
        "model_only_tokens_per_s": n_tokens / model_only,
        "baseline_bilstm_tokens_per_s": n_tokens / baseline,
        "speed_ratio_vs_baseline": baseline / end_to_end,
        "peak_memory_mb_batch": memory.above_start / 2**20,
        "process_rss_mb": memory.peak / 2**20,
        "long_document_tokens": len(tagger.words(long_text)),
        "long_document_seconds": long_seconds,
        "peak_memory_mb_long_document": long_memory.above_start / 2**20,
    }
    table = Table(title=f"prediction on {args.tokens}-word documents, one thread")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in [
        ("documents/s (end to end)", f"{result['docs_per_s']:,.1f}"),
        ("tokens/s (end to end)", f"{result['tokens_per_s']:,.0f}"),
        ("  model only (pre-encoded)", f"{result['model_only_tokens_per_s']:,.0f}"),
        (f"  bare BiLSTM {in_dim}->{hidden} baseline, same process", f"{result['baseline_bilstm_tokens_per_s']:,.0f}"),
        ("  ratio ours / baseline", f"{result['speed_ratio_vs_baseline']:.2f}"),
        ("tokens read per document",
         f"{n_tokens / args.docs:,.0f}" + (f" (max_tokens {result['max_tokens']})" if result["max_tokens"] else "")),
        (f"peak memory, batch of {args.batch_size}", f"{result['peak_memory_mb_batch']:,.0f} MB above start"),
        (f"one {result['long_document_tokens']:,}-token document",
         f"{long_seconds:.2f} s, {result['peak_memory_mb_long_document']:,.0f} MB above start"),
    ]:
        table.add_row(name, value)
    console.print(table)
    console.print(f"written {write_result('long_documents', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
