"""``tagger export``: a trained tagger as an ONNX graph plus the JSON the torch-free
runtime (:mod:`tagger.runtime`) needs beside it.

The graph computes what the model computes before decoding: per token task its
emission scores [B, T, L] (a CRF's emissions; a span softmax head's log-probabilities;
a plain softmax head's logits), per sentence task its class probabilities [B, C].
The constrained Viterbi decode runs in NumPy in the runtime, with the transition
scores written to ``export.json``.

The encoder is rewritten for export without packed sequences, and stays exact: the
forward direction runs on the padded batch (padding comes after a sentence's words,
so it never reaches them), the backward direction on each sentence reversed within
its own length (its padding stays at the end), whose outputs are reversed back.

Char-LM embeddings (:class:`tagger.nn.charlm.CharLMEmbedding`) are part of the graph:
each LM's character ids and read positions are inputs (``lm.fwd``, ``lm.fwd.positions``,
``lm.bwd``, ``lm.bwd.positions``; the runtime builds them with
:func:`tagger.charlm_text.lm_inputs`, as ``tagger.batching`` does), and the LM's layers
run in the graph over the padded batch: an LM reads left to right in its own string, so
right padding never reaches a position read. The graph reads a sentence's characters in
one pass where the PyTorch model reads more than ``CharLMEmbedding.WINDOW`` of them in
windows (the same states, in less memory); the runtime therefore refuses a sentence of
more than ``tagger.runtime.inputs.MAX_LM_CHARS`` characters.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import TaggerError
from .files import atomic_write_text
from .model import SequenceTagger, load_model
from .nn.charlm import DIRECTIONS, CharLMEmbedding
from .nn.decode import mask_to_scores
from .nn.embed import CharCNN, CharLSTM
from .nn.lm import RecurrentLM
from .runtime import EXPORT_FILE, EXPORT_FORMAT, ONNX_FILE, QUANTIZE_CHOICES, VOCAB_FILE

OPSET = 17
INPUTS = ("words", "casing", "chars", "char_index", "lengths")
LM_INPUTS = tuple(name for d in DIRECTIONS for name in (f"lm.{d}", f"lm.{d}.positions"))


def reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """[B, T] positions that reverse each row within its length: ``t -> n - 1 - t`` for
    the ``n`` real steps, padding in place. Applying it twice is the identity."""
    t = torch.arange(steps, device=lengths.device)[None, :]
    n = lengths[:, None]
    return torch.where(t < n, n - 1 - t, t)


def _gather_steps(x: Tensor, index: Tensor) -> Tensor:
    return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[2]))


def _single_direction(rnn: nn.RNNBase, layer: int, suffix: str, in_dim: int) -> nn.RNNBase:
    """A one-layer, one-direction copy of one layer and direction of ``rnn``."""
    kwargs = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    cell = type(rnn)(in_dim, rnn.hidden_size, batch_first=True, bias=rnn.bias, **kwargs)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
    cell.load_state_dict({f"{n}_l0": getattr(rnn, f"{n}_l{layer}{suffix}").detach().clone() for n in names})
    return cell


class PaddedRNN(nn.Module):
    """A stacked (bi)directional ``nn.RNN``/``GRU``/``LSTM`` over padded batches, with
    the same outputs on every real step as the packed original (eval mode)."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        if rnn.proj_size if isinstance(rnn, nn.LSTM) else False:
            raise TaggerError("an LSTM with proj_size cannot be exported")
        self.bidirectional = rnn.bidirectional
        dirs = 2 if rnn.bidirectional else 1
        layers = []
        for layer in range(rnn.num_layers):
            in_dim = rnn.input_size if layer == 0 else rnn.hidden_size * dirs
            cells = [_single_direction(rnn, layer, "", in_dim)]
            if rnn.bidirectional:
                cells.append(_single_direction(rnn, layer, "_reverse", in_dim))
            layers.append(nn.ModuleList(cells))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        index = reverse_index(lengths, x.shape[1]) if self.bidirectional else None
        for cells in self.layers:
            out = [cells[0](x)[0]]
            if index is not None:
                out.append(_gather_steps(cells[1](_gather_steps(x, index))[0], index))
            x = torch.cat(out, dim=-1) if len(out) > 1 else out[0]
        return x


class PaddedCharLSTM(nn.Module):
    """:class:`tagger.nn.embed.CharLSTM` without packing: the last state of each direction."""

    def __init__(self, char_lstm: CharLSTM):
        super().__init__()
        self.embed = char_lstm.embed
        self.fwd = _single_direction(char_lstm.lstm, 0, "", char_lstm.lstm.input_size)
        self.bwd = _single_direction(char_lstm.lstm, 0, "_reverse", char_lstm.lstm.input_size)

    def forward(self, chars: Tensor) -> Tensor:
        lengths = (chars != 0).sum(1).clamp(min=1)
        x = self.embed(chars)
        index = reverse_index(lengths, chars.shape[1])
        last = (lengths - 1)[:, None, None].expand(-1, 1, self.fwd.hidden_size)
        fwd = self.fwd(x)[0].gather(1, last)[:, 0]
        bwd = self.bwd(_gather_steps(x, index))[0].gather(1, last)[:, 0]
        return torch.cat([fwd, bwd], dim=1)


class PaddedCharLM(nn.Module):
    """:class:`tagger.nn.charlm.CharLMEmbedding` over padded batches: each LM's top-layer
    states at the positions read, forward then backward, as the model concatenates them."""

    def __init__(self, charlm: CharLMEmbedding):
        super().__init__()
        self.lms = nn.ModuleList(charlm.lms[d] for d in DIRECTIONS)
        for lm in self.lms:
            if not isinstance(lm, RecurrentLM):
                raise TaggerError(f"cannot export the char LM {type(lm).__name__}")
            for layer in lm.layers:
                if not isinstance(layer, nn.RNNBase) or layer.num_layers != 1 or layer.bidirectional:
                    raise TaggerError("cannot export a char LM whose layers are not one-direction, one-layer RNNs")
                if isinstance(layer, nn.LSTM) and layer.proj_size:
                    raise TaggerError("an LSTM with proj_size cannot be exported")

    def forward(self, *inputs: Tensor) -> Tensor:
        """``inputs``: per LM (forward, backward) its ids [B, L] and positions [B, T] -> [B, T, D]."""
        parts = []
        for i, lm in enumerate(self.lms):
            ids, positions = inputs[2 * i], inputs[2 * i + 1]
            top = lm.run(ids)[0][-1]  # eval mode: no dropout; no initial state
            parts.append(top.gather(1, positions[:, :, None].expand(-1, -1, top.shape[-1])))
        return torch.cat(parts, dim=-1)


class ExportGraph(nn.Module):
    """The model's forward pass in a shape ``torch.onnx.export`` turns into one graph.

    Inputs: ``words``, ``casing`` [B, T] ids; ``chars`` [U, W]: the character ids of the
    batch's distinct spellings (the model runs its char encoder once per spelling too);
    ``char_index`` [B, T]: each token's row of ``chars``; ``lengths`` [B]; with char-LM
    embeddings, per LM direction its character ids [B, L] and read positions [B, T]
    (``LM_INPUTS``). Outputs, in head order: ``scores.TASK``, [B, T, L] or [B, C] (see
    the module's docstring).
    """

    def __init__(self, model: SequenceTagger):
        super().__init__()
        embedder = model.embedder
        self.charlm = None if embedder.charlm is None else PaddedCharLM(embedder.charlm)
        self.word, self.casing = embedder.word, embedder.casing
        chars = embedder.chars
        self.chars = PaddedCharLSTM(chars) if isinstance(chars, CharLSTM) else chars
        if chars is not None and not isinstance(chars, (CharCNN, CharLSTM)):
            raise TaggerError(f"cannot export the char encoder {type(chars).__name__}")
        self.encoder = PaddedRNN(model.encoder.rnn)
        self.heads = model.heads
        self.sentence_tasks = set(model.sentence_tasks)
        self.log_softmax = {h.task for h in model.recipe.heads if h.kind == "softmax" and h.span}

    def forward(self, words: Tensor, casing: Tensor, chars: Tensor, char_index: Tensor, lengths: Tensor,
                *lm: Tensor) -> tuple[Tensor, ...]:
        mask = torch.arange(words.shape[1])[None, :] < lengths[:, None]
        parts = [self.word(words)]
        if self.casing is not None:
            parts.append(self.casing(casing))
        if self.chars is not None:
            per_spelling = self.chars(chars)  # [U, F]
            per_token = per_spelling[char_index.reshape(-1)].reshape(*words.shape, -1)
            parts.append(per_token * mask[:, :, None].to(per_token.dtype))  # padding slots are zeros, as in the model
        if self.charlm is not None:
            feats = self.charlm(*lm)
            parts.append(feats * mask[:, :, None].to(feats.dtype))
        states = self.encoder(torch.cat(parts, dim=-1), lengths)
        out = []
        for task, head in self.heads.items():
            if task in self.sentence_tasks:
                out.append(head.decode(states, mask))
            elif task in self.log_softmax:
                out.append(torch.log_softmax(head.proj(states), dim=-1))
            else:
                out.append(head.proj(states))
        return tuple(out)


def decode_params(model: SequenceTagger) -> list[dict]:
    """What the runtime decodes each head's scores with: the recipe's head settings, its
    labels and, for a span or CRF head, the transition scores Viterbi maximises over."""
    heads = []
    for head in model.recipe.heads:
        module = model.heads[head.task]
        entry = {"task": head.task, "kind": head.kind, "span": head.span, "labels": model.vocabs.labels[head.task].itos}
        if head.task in model.sentence_tasks:
            entry.update(level="sentence", decode="classes", multi_label=head.multi_label, threshold=module.threshold)
        elif head.kind == "crf":
            trans, start, end = module.crf.masked_params()
            entry.update(level="token", decode="viterbi", transitions=trans.tolist(), start=start.tolist(), end=end.tolist())
        elif head.span:  # a softmax head decoded under the BIO constraints: 0 where allowed, -10000 where not
            scores = [mask_to_scores(m).tolist() for m in (module.allowed, module.allowed_start, module.allowed_end)]
            entry.update(level="token", decode="viterbi", transitions=scores[0], start=scores[1], end=scores[2])
        else:
            entry.update(level="token", decode="argmax")
        heads.append(entry)
    return heads


def input_names(model: SequenceTagger) -> list[str]:
    return list(INPUTS) + (list(LM_INPUTS) if model.embedder.charlm is not None else [])


def example_inputs(model: SequenceTagger) -> tuple[Tensor, ...]:
    """A batch of two sentences (3 and 1 tokens) for tracing the graph."""
    n_words, n_chars = len(model.vocabs.words), len(model.vocabs.chars)
    words = torch.tensor([[2 % n_words, 1, 3 % n_words], [1, 0, 0]])
    chars = torch.tensor([[1, min(2, n_chars - 1), 0], [1, 0, 0], [min(3, n_chars - 1), 1, 1]])
    inputs = [words, torch.tensor([[1, 2, 3], [4, 0, 0]]), chars, torch.tensor([[0, 1, 2], [1, 0, 0]]), torch.tensor([3, 1])]
    if model.embedder.charlm is not None:  # the strings of ["ab", "c", "d"] and ["e"]: 8 and 3 characters
        for d in DIRECTIONS:
            n_lm = len(model.vocabs.charlm_vocab(d)[0])
            ids = torch.tensor([[(i % (n_lm - 1)) + 1 for i in range(8)], [1, 2 % n_lm, 1, 0, 0, 0, 0, 0]])
            inputs += [ids, torch.tensor([[3, 5, 7], [2, 0, 0]])]
    return tuple(inputs)


def write_onnx(model: SequenceTagger, path: Path, opset: int = OPSET) -> None:
    """Trace :class:`ExportGraph` to ``path`` with dynamic batch, length and spelling axes."""
    graph = ExportGraph(model).eval()
    outputs = [f"scores.{task}" for task in model.tasks]
    axes = {"words": {0: "batch", 1: "length"}, "casing": {0: "batch", 1: "length"}, "chars": {0: "spellings", 1: "chars"},
            "char_index": {0: "batch", 1: "length"}, "lengths": {0: "batch"}}
    for d in DIRECTIONS:  # both LMs read strings of the same length
        axes[f"lm.{d}"], axes[f"lm.{d}.positions"] = {0: "batch", 1: "lm_chars"}, {0: "batch", 1: "length"}
    for task, name in zip(model.tasks, outputs):
        axes[name] = {0: "batch"} if task in model.sentence_tasks else {0: "batch", 1: "length"}
    with torch.inference_mode(), warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False): it writes ONNX's own LSTM/GRU/RNN ops in
        # about a second, and its dynamic axes hold for the length axis too (the dynamo
        # exporter took 8 s and fixed the output's length axis). Its warning about LSTMs
        # and batch sizes concerns graphs with initial states, which this one has not.
        warnings.simplefilter("ignore")
        names = input_names(model)
        torch.onnx.export(graph, example_inputs(model), str(path), input_names=names, output_names=outputs,
                          dynamic_axes={k: v for k, v in axes.items() if k in names or k in outputs},
                          opset_version=opset, dynamo=False)


def quantize_onnx(source: Path, target: Path) -> None:
    """ONNX Runtime's dynamic int8 quantization of the recurrent and matrix-product ops
    (weights int8, activations quantized per batch); embeddings stay fp32."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process first is for static quantization
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["LSTM", "MatMul", "Gemm"])
    finally:
        logging.disable(logging.NOTSET)


def export_model(model_dir: str | Path, out_dir: str | Path, fmt: str = "onnx", quantize: str | None = None) -> Path:
    """Write ``out_dir`` with ``model.onnx``, ``vocab.json`` and ``export.json``; the runtime
    (``tagger.runtime.load(out_dir)``) tags with it without PyTorch."""
    if fmt != "onnx":
        raise TaggerError(f"unknown export format '{fmt}' (choose: onnx)")
    if quantize not in QUANTIZE_CHOICES:
        raise TaggerError(f"unknown --quantize '{quantize}' (choose: {', '.join(c for c in QUANTIZE_CHOICES if c)})")
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        raise TaggerError("export needs onnx and onnxruntime: pip install 'tagger[export]'") from None
    model = load_model(model_dir)
    if model.recipe.data.context_tokens:  # the graph takes sentences, not documents
        raise TaggerError("a model that reads document context (data.context_tokens) cannot be exported to ONNX yet",
                          model_dir)
    if model.embedder.charlm is not None and model.recipe.embed.charlm_context:
        raise TaggerError("a model whose char LMs read document context (embed.charlm_context) cannot be exported to ONNX yet",
                          model_dir)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TaggerError("the export target exists and is not a directory", out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".export.") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        write_onnx(model, fp32)
        final = fp32
        if quantize == "int8":
            final = Path(tmp) / "int8.onnx"
            quantize_onnx(fp32, final)
        shutil.move(str(final), str(out / ONNX_FILE))  # same folder: a rename
    recipe = model.recipe
    meta = {"format": EXPORT_FORMAT, "format_version": 1, "opset": OPSET, "quantize": quantize,
            "tokenizer": recipe.data.tokenizer, "max_tokens": recipe.data.max_tokens, "heads": decode_params(model),
            "recipe": recipe.to_dict()}
    atomic_write_text(out / VOCAB_FILE, model.vocabs.to_json())
    atomic_write_text(out / EXPORT_FILE, json.dumps(meta, indent=1))
    return out
