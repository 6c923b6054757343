"""Side-by-side peer benchmark on CoNLL-2003 valid: words/s, peak RSS and F1 of our
tagger (PyTorch fp32, int8 and bf16, the ONNX runtime fp32 and int8) and spaCy's own NER.

    python bench/peers.py                           # prepares what is missing, then times
    python bench/peers.py --model runs/peers/conll2003/best --rounds 3
    python bench/peers.py --batch-size 64 --name peers_b64   # smaller batches: half the memory
    python bench/peers.py --charlm-model runs/charlm-ner/best --name peers_charlm   # + a char-LM model
    python bench/peers.py --charlm-model runs/charlm-ner/best --systems charlm-fp32 charlm-onnx-fp32 \
        charlm-onnx-int8 --name peers_charlm_onnx   # the char-LM model alone: PyTorch vs its exports

What it needs, made once and cached under ``runs/peers/``:

* our model: ``tagger train conll2003 --output runs/peers/conll2003 --threads 1
  --set train.max_minutes=20`` (not started here: it takes 20 minutes; the benchmark
  stops with this command when the model is missing);
* its ONNX exports ``runs/peers/onnx-fp32`` and ``onnx-int8`` (``tagger export``,
  made here in seconds);
* spaCy's NER trained by spaCy's own CLI on the same files (``spacy init config
  --pipeline ner --optimize efficiency``, no vectors; ``spacy train`` bounded by
  ``--spacy-max-steps``/``--spacy-max-epochs`` and a wall-clock limit, niced), from
  DocBin files our reader writes (``tagger.io.spacy_docbin.write_docbin``):
  ``runs/peers/spacy/model-best``.

Timing: each system runs in its own process, one thread (``OMP_NUM_THREADS=1``,
``torch.set_num_threads(1)``, ONNX Runtime ``intra_op_num_threads=1``), on the same
pre-tokenized valid sentences, in interleaved rounds (system A, B, C, ... then again),
best round kept (words per second of wall clock, and per CPU second of the process:
the steadier measure on a busy machine); the process loads the model, tags 256 sentences to warm up, then
tags all of them once, timed (spaCy: ``nlp.pipe`` over ``Doc(words=...)``, batch 256;
ours: ``predict``, batch 256, encoding included in both). Peak RSS is the process's
``VmHWM``. F1: seqeval strict spans against the gold BIO tags. Flair joins only
when it is installed (and is skipped with a note otherwise: it needs its own model).

``--charlm-model DIR`` adds a tagger with contextual char-LM embeddings (PyTorch fp32
and int8, and its ONNX exports fp32 and int8, made under ``runs/peers/charlm-onnx-*``)
to the same rounds; its FLOPs per word count both char LMs over the word's characters
and the space after it. With only char-LM systems in ``--systems`` the default model is
not needed; ``ratio_to_charlm_fp32`` compares them to the char-LM model in PyTorch fp32.

Results: a table (ratios to spaCy and to our PyTorch fp32 model), and ``bench/results/peers.json`` with the machine's load (``uptime``)
before and after, the encoder's FLOPs per token and this machine's one-thread SGEMM
throughput (what bounds an LSTM's speed), and its one-thread bfloat16 matrix-product
throughput (the bound of the ``*-bf16`` systems: ``tagger.load(..., quantize="bf16")``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchutil import ROOT, find_data, proc_status_kb, write_result

RUNS = ROOT / "runs" / "peers"
SYSTEMS = ("spacy", "tagger-fp32", "tagger-int8", "tagger-bf16", "onnx-fp32", "onnx-int8")
CHARLM_SYSTEMS = ("charlm-fp32", "charlm-int8", "charlm-bf16", "charlm-onnx-fp32", "charlm-onnx-int8")  # with --charlm-model
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# -- the worker: one system, one process ------------------------------------------

def load_system(system: str, args: argparse.Namespace):
    """A function tagging a list of word lists with BIO NER tags."""
    if system == "spacy":
        import spacy
        from spacy.tokens import Doc

        nlp = spacy.load(args.spacy_model)

        def tag(sentences):
            docs = nlp.pipe((Doc(nlp.vocab, words=w) for w in sentences), batch_size=args.batch_size)
            return [[t.ent_iob_ + "-" + t.ent_type_ if t.ent_iob_ in ("B", "I") else "O" for t in d] for d in docs]
        return tag
    if system.startswith(("onnx", "charlm-onnx")):
        import tagger.runtime

        model = tagger.runtime.load(RUNS / system, threads=1, batch_size=args.batch_size)
        return model.predict
    import torch

    import tagger

    torch.set_num_threads(1)
    path = args.charlm_model if system.startswith("charlm") else args.model
    precision = system.rsplit("-", 1)[1]  # fp32, int8 or bf16 (tagger.load's quantize)
    model = tagger.load(path, quantize=None if precision == "fp32" else precision)
    model.batch_size = args.batch_size
    return model.predict


def worker(system: str, args: argparse.Namespace) -> None:
    # The words come as JSON, so no system's process pays for another's imports (our reader's).
    words = json.loads(Path(args.words).read_text(encoding="utf-8"))
    start = time.perf_counter()
    tag = load_system(system, args)
    loaded = time.perf_counter() - start
    tag(words[: args.batch_size])  # warm-up: first calls allocate and pick kernels
    start, cpu = time.perf_counter(), time.process_time()
    tags = tag(words)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
    peak_kb = proc_status_kb(os.getpid(), "VmHWM")
    json.dump({"system": system, "seconds": seconds, "cpu_seconds": cpu, "load_seconds": loaded, "peak_rss_mb": peak_kb / 1024,
               "words": sum(map(len, words)), "tags": tags}, sys.stdout)


# -- preparation -------------------------------------------------------------------

def prepare_spacy(args: argparse.Namespace, data: Path) -> Path | None:
    """spaCy's NER pipeline trained by its own CLI on our DocBin conversion (cached)."""
    folder = RUNS / "spacy"
    if (folder / "model-best" / "meta.json").exists():
        return folder / "model-best"
    if args.no_train_spacy:
        return None
    from tagger.io.conll import read_conll2003
    from tagger.io.spacy_docbin import write_docbin

    folder.mkdir(parents=True, exist_ok=True)
    for split, name in (("train", "train.spacy"), ("valid", "dev.spacy")):
        write_docbin(read_conll2003(data / f"{split}.txt"), folder / name)
    py = [sys.executable, "-m", "spacy"]
    subprocess.run(py + ["init", "config", str(folder / "config.cfg"), "--lang", "en", "--pipeline", "ner",
                         "--optimize", "efficiency", "--force"], check=True)
    cmd = ["nice", "-n", "10", "timeout", str(args.spacy_max_minutes * 60)] + py + [
        "train", str(folder / "config.cfg"), "--output", str(folder), "--paths.train", str(folder / "train.spacy"),
        "--paths.dev", str(folder / "dev.spacy"), "--training.max_steps", str(args.spacy_max_steps),
        "--training.max_epochs", str(args.spacy_max_epochs), "--training.eval_frequency", "400"]
    print("training spaCy:", " ".join(cmd), file=sys.stderr)
    started = time.time()
    done = subprocess.run(cmd, env={**os.environ, **ONE_THREAD})
    (folder / "train_seconds.txt").write_text(f"{time.time() - started:.0f} exit {done.returncode}\n")
    # A run cut by the time limit (exit 124) still leaves its best model so far.
    return folder / "model-best" if (folder / "model-best" / "meta.json").exists() else None


def prepare_exports(model: Path, prefix: str = "onnx") -> None:
    from tagger.export import export_model

    weights = (model / "model.safetensors").stat()
    source = f"{model.resolve()} {weights.st_size} {weights.st_mtime_ns}\n"  # which model the export is of
    for quantize in (None, "int8"):
        target = RUNS / f"{prefix}-{quantize or 'fp32'}"
        stamp = RUNS / f"{prefix}-{quantize or 'fp32'}.source"
        if not (target / "model.onnx").exists() or not stamp.exists() or stamp.read_text() != source:
            export_model(model, target, quantize=quantize)
            stamp.write_text(source)


# -- the parent: rounds, scores, table ---------------------------------------------

def run_round(systems: list[str], args: argparse.Namespace) -> list[dict]:
    out = []
    for system in systems:
        cmd = [sys.executable, __file__, "--worker", system, "--model", str(args.model), "--words", str(args.words),
               "--batch-size", str(args.batch_size), "--spacy-model", str(args.spacy_model),
               *(["--charlm-model", str(args.charlm_model)] if args.charlm_model else [])]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
        if done.returncode != 0:
            raise SystemExit(f"{system} failed:\n{done.stderr[-2000:]}")
        out.append(json.loads(done.stdout))
    return out


def sgemm_gflops(n: int = 512, repeats: int = 20) -> float:
    """One thread's float32 matrix-product throughput (run in a one-thread child process)."""
    code = (f"import numpy as np, time\na = np.random.rand({n}, {n}).astype(np.float32)\nb = a.copy()\n"
            f"a @ b\nbest = min((lambda s: (a @ b, time.perf_counter() - s)[1])(time.perf_counter()) "
            f"for _ in range({repeats}))\nprint(2 * {n} ** 3 / best / 1e9)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
    return float(done.stdout.strip())


def bf16_gflops(n: int = 512, repeats: int = 20) -> float:
    """One thread's bfloat16 matrix-product throughput in PyTorch (oneDNN; AMX where the
    CPU has it): the bound for the bf16 systems, as SGEMM is for the float32 ones."""
    code = (f"import torch, time\ntorch.set_num_threads(1)\na = torch.rand({n}, {n}).bfloat16()\nb = a.clone()\n"
            f"a @ b\nbest = min((lambda s: (a @ b, time.perf_counter() - s)[1])(time.perf_counter()) "
            f"for _ in range({repeats}))\nprint(2 * {n} ** 3 / best / 1e9)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
    return float(done.stdout.strip())


def encoder_flops_per_token(model: Path) -> float:
    """Multiply-adds x 2 of the recurrent encoder per token (the rest is small beside it)."""
    recipe = json.loads((model / "config.json").read_text())["recipe"]
    enc, emb = recipe["encoder"], recipe["embed"]
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[enc["cell"]]
    dirs = 2 if enc["bidirectional"] else 1
    in_dim = emb["word_dim"] + emb["casing_dim"] + (emb["char_hidden"] * (2 if emb["char_encoder"] == "lstm" else 1)
                                                   if emb["char_encoder"] != "none" else 0)
    # Char-LM embeddings: each LM's state joins the encoder's input.
    lms = json.loads((model / "vocab.json").read_text()).get("charlm", {})
    in_dim += sum(desc["config"]["hidden"] for desc in lms.values())
    flops = 0
    for layer in range(enc["layers"]):
        width = in_dim if layer == 0 else enc["hidden"] * dirs
        flops += 2 * dirs * gates * enc["hidden"] * (width + enc["hidden"])
    return flops


def charlm_flops_per_word(model: Path, words: list[list[str]]) -> float:
    """Multiply-adds x 2 of both char LMs per word: each reads every character of the
    sentence string plus one separator per word."""
    vocab = json.loads((model / "vocab.json").read_text())
    chars_per_word = sum(len(w) + 1 for s in words for w in s) / sum(map(len, words))
    flops = 0.0
    for desc in vocab["charlm"].values():
        cfg = desc["config"]
        gates = {"lstm": 4, "gru": 3, "rnn": 1}[cfg["cell"]]
        widths = [cfg["embed_dim"]] + [cfg["hidden"]] * cfg["layers"]
        flops += sum(2 * gates * cfg["hidden"] * (widths[i] + cfg["hidden"]) for i in range(cfg["layers"]))
    return flops * chars_per_word


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def summarise(rounds: list[list[dict]], gold: list[list[str]], flops: dict[str, float], gflops: dict[str, float]) -> dict:
    from tagger.metrics import span_report

    systems: dict[str, dict] = {}
    for result in (r for rnd in rounds for r in rnd):
        entry = systems.setdefault(result["system"], {"words": result["words"], "words_per_s": [], "peak_rss_mb": 0.0})
        entry["words_per_s"].append(result["words"] / result["seconds"])
        entry.setdefault("words_per_cpu_s", []).append(result["words"] / result["cpu_seconds"])
        entry["peak_rss_mb"] = max(entry["peak_rss_mb"], result["peak_rss_mb"])
        entry["load_seconds"] = round(min(entry.get("load_seconds", 1e9), result["load_seconds"]), 2)
        if "f1" not in entry:
            entry["f1"] = round(100 * span_report(gold, result["tags"])["f1"], 2)
    base = max(systems["spacy"]["words_per_s"]) if "spacy" in systems else None
    ours = max(systems["tagger-fp32"]["words_per_s"]) if "tagger-fp32" in systems else None
    charlm = max(systems["charlm-fp32"]["words_per_s"]) if "charlm-fp32" in systems else None
    charlm_cpu = max(systems["charlm-fp32"]["words_per_cpu_s"]) if charlm else None
    for name, entry in systems.items():
        entry["best_words_per_s"] = round(max(entry["words_per_s"]))
        entry["words_per_s"] = [round(w) for w in entry["words_per_s"]]
        entry["best_words_per_cpu_s"] = round(max(entry["words_per_cpu_s"]))
        entry["words_per_cpu_s"] = [round(w) for w in entry["words_per_cpu_s"]]
        entry["peak_rss_mb"] = round(entry["peak_rss_mb"], 1)
        entry["ratio_to_spacy"] = round(entry["best_words_per_s"] / base, 3) if base else None
        entry["ratio_to_tagger_fp32"] = round(entry["best_words_per_s"] / ours, 3) if ours else None
        if name.startswith("charlm"):
            entry["ratio_to_charlm_fp32"] = round(entry["best_words_per_s"] / charlm, 3) if charlm else None
            entry["cpu_ratio_to_charlm_fp32"] = (round(entry["best_words_per_cpu_s"] / charlm_cpu, 3)
                                                 if charlm else None)
        if name != "spacy":  # how near the encoder's arithmetic runs to one thread's SGEMM speed
            model_flops = flops["charlm" if name.startswith("charlm") else "tagger"]
            entry["flops_per_word"] = round(model_flops)
            limit = gflops["bf16" if name.endswith("bf16") else "fp32"]  # int8 too is measured against SGEMM
            entry["percent_of_sgemm_limit"] = round(100 * entry["best_words_per_s"] * model_flops / (limit * 1e9), 1)
    return systems


def print_table(systems: dict) -> None:
    print(f"\n{'system':<16} {'words/s':>9} {'x spaCy':>8} {'x fp32':>7} {'x charlm':>9} {'w/CPU-s':>9} "
          f"{'x charlm CPU':>12} {'peak RSS MB':>12} {'valid F1':>9} {'load s':>7}")
    for name, e in systems.items():
        ratio = f"{e['ratio_to_spacy']:.2f}" if e["ratio_to_spacy"] else "-"
        ours = f"{e['ratio_to_tagger_fp32']:.2f}" if e["ratio_to_tagger_fp32"] else "-"
        charlm = f"{e['ratio_to_charlm_fp32']:.2f}" if e.get("ratio_to_charlm_fp32") else "-"
        cpu = f"{e['cpu_ratio_to_charlm_fp32']:.2f}" if e.get("cpu_ratio_to_charlm_fp32") else "-"
        print(f"{name:<16} {e['best_words_per_s']:>9,} {ratio:>8} {ours:>7} {charlm:>9} {e['best_words_per_cpu_s']:>9,} "
              f"{cpu:>12} {e['peak_rss_mb']:>12.0f} "
              f"{e['f1']:>9.2f} {e['load_seconds']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=RUNS / "conll2003" / "best")
    parser.add_argument("--spacy-model", type=Path, default=RUNS / "spacy" / "model-best")
    parser.add_argument("--valid", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS + CHARLM_SYSTEMS)
    parser.add_argument("--charlm-model", type=Path, default=None,
                        help="also time this char-LM tagger (systems charlm-fp32, charlm-int8, charlm-bf16, charlm-onnx-fp32, "
                             "charlm-onnx-int8)")
    parser.add_argument("--no-train-spacy", action="store_true", help="skip spaCy when its pipeline is not cached")
    parser.add_argument("--spacy-max-steps", type=int, default=6000)
    parser.add_argument("--spacy-max-epochs", type=int, default=12)
    parser.add_argument("--spacy-max-minutes", type=int, default=20)
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--name", default="peers", help="results file: bench/results/NAME.json")
    parser.add_argument("--worker", choices=SYSTEMS + CHARLM_SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--words", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    data = find_data("conll2003")
    if data is None:
        print("skipped: CoNLL-2003 not found ($TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003)")
        return
    args.valid = args.valid or data / "valid.txt"
    systems = list(args.systems)
    args.base = any(s in SYSTEMS[1:] for s in systems)  # the default model's systems
    if args.base and not (args.model / "model.safetensors").exists():
        print(f"skipped: no model at {args.model}; train it with\n  nice -n 10 tagger train conll2003 --output "
              f"{RUNS / 'conll2003'} --threads 1 --set train.max_minutes=20")
        return
    if args.base:
        prepare_exports(args.model)
    if args.charlm_model:
        if args.base:  # alongside the default model: every char-LM system
            systems += [s for s in CHARLM_SYSTEMS if s not in systems]
        if any(s.startswith("charlm-onnx") for s in systems):
            prepare_exports(args.charlm_model, "charlm-onnx")
    elif any(s in CHARLM_SYSTEMS for s in systems):
        raise SystemExit("the charlm-* systems need --charlm-model DIR")
    if "spacy" in systems and prepare_spacy(args, data) is None:
        print("note: spaCy skipped (no pipeline in runs/peers/spacy/model-best)")
        systems.remove("spacy")
    try:
        import flair  # noqa: F401

        print("note: flair is installed, but this script has no Flair model to time yet")
    except ImportError:
        print("note: Flair skipped (not installed: pip install flair)")
    if args.prepare_only:
        return
    run(systems, args)


def run(systems: list[str], args: argparse.Namespace) -> None:
    from tagger.io.conll import read_conll2003

    valid = read_conll2003(args.valid)
    gold = [s.tags["ner"] for s in valid]
    args.words = RUNS / "valid_words.json"
    args.words.write_text(json.dumps([s.words for s in valid]), encoding="utf-8")
    load_before = uptime()
    gflops = {"fp32": sgemm_gflops(), "bf16": bf16_gflops()}
    rounds = []
    for number in range(args.rounds):
        rounds.append(run_round(systems, args))
        print(f"round {number + 1}: " + ", ".join(f"{r['system']} {r['words'] / r['seconds']:,.0f} w/s" for r in rounds[-1]),
              file=sys.stderr)
    flops = {"tagger": encoder_flops_per_token(args.model) if args.base else None}
    if args.charlm_model:
        words = [s.words for s in valid]
        flops["charlm"] = encoder_flops_per_token(args.charlm_model) + charlm_flops_per_word(args.charlm_model, words)
    results = summarise(rounds, gold, flops, gflops)
    print_table(results)
    load_after = uptime()
    print(f"\nload before: {load_before}\nload after:  {load_after}")
    out = write_result(args.name, {
        "data": f"CoNLL-2003 valid ({len(gold):,} sentences, {sum(map(len, gold)):,} words), pre-tokenized",
        "rounds": args.rounds, "batch_size": args.batch_size, "threads": 1, "model": str(args.model),
        "charlm_model": str(args.charlm_model) if args.charlm_model else None,
        "encoder_flops_per_token": flops["tagger"], "sgemm_gflops_1thread": round(gflops["fp32"], 1),
        "bf16_gemm_gflops_1thread": round(gflops["bf16"], 1),
        "uptime_before": load_before, "uptime_after": load_after, "systems": results,
    })
    print(f"written to {out}")


if __name__ == "__main__":
    main()
