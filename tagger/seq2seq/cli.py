"""What ``tagger train|evaluate|predict`` (and ``python evaluate.py``) do for translation
models (called from :mod:`tagger.cli` when the recipe or model directory is of the
seq2seq family)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import TaggerError
from ..options import TRAIN_OPTIONS, run_train_command

# `tagger train` options and where they go in a translation recipe.
TRAIN_FLAGS = {**TRAIN_OPTIONS, "data_dir": "data.data_dir", "train_file": "data.train", "dev_file": "data.dev",
               "data_format": "data.format", "train_src": "data.train_src", "train_tgt": "data.train_tgt",
               "dev_src": "data.dev_src", "dev_tgt": "data.dev_tgt"}


def train_command(recipe: str | None, output: Path | None, resume: Path | None, overrides: list[str],
                  checkpoint_every: int, console: Console, **options: Any) -> None:
    """``tagger train`` for a translation recipe (or ``--resume`` of a translation run)."""
    from .config import load_seq2seq_recipe
    from .train import train_seq2seq

    run_train_command(train_seq2seq, load_seq2seq_recipe, TRAIN_FLAGS, "translation models", recipe, output, resume,
                      overrides, checkpoint_every, console, options)


def evaluate_command(model_dir: Path, split: str, data_dir: Path | None, src: Path | None, ref: Path | None,
                     json_out: Path | None, beam: int | None, batch_size: int, device: str, threads: int | None) -> dict:
    """sacreBLEU BLEU (cased detokenized, and lowercased 13a) and chrF of a translation
    model on a split of its data source, or on ``--src``/``--ref`` files; BLEU by source length."""
    from ..device import set_threads
    from .data import load_parallel
    from .metrics import bleu_by_length, bleu_report
    from .predict import Translator
    from .text import read_aligned

    set_threads(threads)
    translator = Translator.load(model_dir, device)
    translator.batch_size = batch_size
    if (src is None) != (ref is None):
        raise TaggerError("--src and --ref go together: the source sentences and their reference translations")
    if src is not None:
        pairs, where = read_aligned(src, ref), f"{src} -> {ref}"
    else:
        data = translator.recipe.data
        data.train_src = data.train_tgt = data.dev_src = data.dev_tgt = data.train = data.dev = None
        data.data_dir = str(data_dir) if data_dir is not None else data.data_dir
        if not data.source:
            raise TaggerError("this model was trained on files, not a named source: give --src and --ref")
        pairs, where = load_parallel(data, (split,))[split], f"{data.source} {split}"
    hyps = translator.translate(pairs.src, beam)
    report = bleu_report(hyps, pairs.tgt) | {"by_length": bleu_by_length(pairs.src, hyps, pairs.tgt),
                                             "beam": beam or translator.beam}
    print(f"{where}: {len(pairs):,} sentence pairs, beam {report['beam']}")
    print(f"BLEU (cased, detokenized) {report['bleu_cased']:.2f}   chrF {report['chrf']:.2f}")
    print(f"BLEU (lowercased, 13a)    {report['bleu']:.2f}   ({report['signature']})")
    print("BLEU by source length (words, lowercased):")
    for bucket, entry in report["by_length"].items():
        score = "-" if entry["bleu"] is None else f"{entry['bleu']:.2f}"
        print(f"  {bucket:>6}: {score:>6}  ({entry['sentences']:,} sentences)")
    if json_out is not None:
        json_out.write_text(json.dumps({"data": where, "report": report}, indent=2))
    return report


def predict_command(model_dir: Path, texts: list[str] | None, input_file: Path | None, output: Path | None, fmt: str,
                    explain: bool, explain_html: Path | None, beam: int | None, batch_size: int, device: str,
                    threads: int | None, console: Console) -> None:
    """``tagger predict`` for a translation model: one translation per sentence or input
    line (streamed; an empty line gives an empty line); ``--explain`` draws the attention."""
    from ..device import set_threads
    from .predict import Translator
    from .text import iter_lines

    if not texts and input_file is None:
        raise TaggerError("give sentences to translate, or --input FILE")
    if beam is not None and beam < 1:
        raise TaggerError("--beam must be at least 1")
    set_threads(threads)
    translator = Translator.load(model_dir, device)
    translator.batch_size = batch_size
    lines = iter(texts) if texts else iter_lines(input_file)
    if explain or explain_html is not None:
        _explain(translator, list(lines), output, explain_html, beam, str(model_dir), console)
        return
    out = output.open("w", encoding="utf-8", newline="\n") if output else sys.stdout
    try:
        buffer: list[str] = []
        for line in _with_end(lines):
            if line is not None:
                buffer.append(line)
            if buffer and (line is None or len(buffer) >= batch_size):
                for source, result in zip(buffer, translator.translations(buffer, beam)):
                    record = {"source": source, "translation": result.text, "score": round(result.score, 4)}
                    out.write((json.dumps(record, ensure_ascii=False) if fmt == "jsonl" else result.text) + "\n")
                out.flush()
                buffer = []
    finally:
        if output:
            out.close()


def _with_end(lines):
    yield from lines
    yield None


def _explain(translator, texts: list[str], output: Path | None, explain_html: Path | None, beam: int | None,
             title: str, console: Console) -> None:
    """The attention matrices: HTML to ``-o page.html`` / ``--explain-html``, a PNG per
    sentence beside it (``page.png``, ``page.2.png``, ...); ``-o x.png`` the PNG alone.
    Without a file, each translation with its strongest alignment per target piece."""
    from .draw import attention_page, attention_png

    if translator.model.attention is None:
        raise TaggerError("this model has no attention (attention = \"none\"): nothing to draw")
    results = translator.translations(texts, beam, want_attention=True)
    targets = [p for p in (explain_html, output) if p is not None]
    if not targets:
        for text, r in zip(texts, results):
            src = [*r.source_pieces, "</s>"]
            pairs = [f"{p}<-{src[int(r.attention[i].argmax())]}" for i, p in enumerate([*r.target_pieces, "</s>"])]
            sys.stdout.write(f"{text}\n  {r.text}\n  {' '.join(pairs)}\n")
        return
    drawn = [(text, r) for text, r in zip(texts, results) if r.attention is not None]
    for target in targets:
        if target.suffix.lower() != ".png":
            target.write_text(attention_page(drawn, f"tagger: {title}"), encoding="utf-8")
        pngs = [target] if target.suffix.lower() == ".png" else [
            target.with_suffix(".png" if i == 0 else f".{i + 1}.png") for i in range(len(drawn))]
        for png, (text, r) in zip(pngs, drawn):
            attention_png(r, png, f"{text}\n{r.text}")
        console.print(f"attention written to {target}" + ("" if target.suffix.lower() == ".png" else f" and {pngs[0]}"))
