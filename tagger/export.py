"""``tagger export``: a trained tagger as an ONNX graph plus the JSON the torch-free
runtime (:mod:`tagger.runtime`) needs beside it.

The graph computes what the model computes before decoding: per token task its
emission scores [B, T, L] (a CRF's emissions; a span softmax head's log-probabilities;
a plain softmax head's logits), per sentence task its class probabilities [B, C].
The constrained Viterbi decode runs in NumPy in the runtime, with the transition
scores written to ``export.json``.

The encoder (and a char LSTM) is written as ONNX's own recurrent ops with
``sequence_lens``, one per layer, and stays exact without packed sequences: ONNX
Runtime reads each sentence backward from its own last word and stops at the batch's
longest sentence (:class:`RecurrentLayers`).

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
from .model import EnsembleTagger, SequenceTagger, load_model
from .nn.charlm import DIRECTIONS, CharLMEmbedding
from .nn.decode import mask_to_scores
from .nn.embed import CharCNN, CharLSTM
from .nn.lm import RecurrentLM
from .runtime import EXPORT_FILE, EXPORT_FORMAT, ONNX_FILE, QUANTIZE_CHOICES, VOCAB_FILE

OPSET = 17
INPUTS = ("words", "casing", "chars", "char_index", "lengths")
LM_INPUTS = tuple(name for d in DIRECTIONS for name in (f"lm.{d}", f"lm.{d}.positions"))


# ONNX orders the gates of its recurrent ops differently from PyTorch: LSTM i,o,f,c
# (PyTorch i,f,g,o) and GRU z,r,h (PyTorch r,z,n); these pick PyTorch's chunks in ONNX's order.
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def _onnx_weights(rnn: nn.RNNBase) -> tuple[Tensor, Tensor, Tensor]:
    """A one-layer ``rnn`` as ONNX's W [D, G*H, I], R [D, G*H, H] and B [D, 2*G*H]."""
    order = _GATE_ORDER[_op_name(rnn)]
    suffixes = [""] + (["_reverse"] if rnn.bidirectional else [])

    def gates(t: Tensor) -> Tensor:
        chunks = t.chunk(len(order), dim=0)
        return torch.cat([chunks[i] for i in order], dim=0)

    def param(name: str, suffix: str) -> Tensor:
        return getattr(rnn, f"{name}_l0{suffix}").detach()

    w = torch.stack([gates(param("weight_ih", sfx)) for sfx in suffixes])
    r = torch.stack([gates(param("weight_hh", sfx)) for sfx in suffixes])
    if rnn.bias:
        b = torch.stack([torch.cat([gates(param("bias_ih", sfx)), gates(param("bias_hh", sfx))]) for sfx in suffixes])
    else:
        b = torch.zeros(len(suffixes), 2 * w.shape[1])
    return w, r, b


def _op_name(rnn: nn.RNNBase) -> str:
    return "LSTM" if isinstance(rnn, nn.LSTM) else "GRU" if isinstance(rnn, nn.GRU) else "RNN"


class _RecurrentOp(torch.autograd.Function):
    """One layer of a (bi)directional RNN/GRU/LSTM, written as ONNX's own op with
    ``sequence_lens``: the backward direction then reads each sentence from its own
    last word, and steps past a sentence's length give zeros, as packed sequences do in
    PyTorch. ``forward`` computes the same with ``layer`` (packed) for the exporter's
    trace; ``w``, ``r``, ``b`` are that layer's weights in ONNX's layout, for the graph.
    In: x [T, B, I] (time first, ONNX's layout), lengths [B]. Out: Y [T, D, B, H] and
    the last real state of each direction, Y_h [D, B, H]."""

    @staticmethod
    def forward(ctx, x: Tensor, lengths: Tensor, w: Tensor, r: Tensor, b: Tensor, layer: nn.RNNBase):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        out, h = layer(packed)
        h = h[0] if isinstance(h, tuple) else h  # an LSTM's (h, c)
        y = nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])[0]
        T, B = y.shape[:2]
        return y.reshape(T, B, h.shape[0], -1).permute(0, 2, 1, 3), h

    @staticmethod
    def symbolic(g, x, lengths, w, r, b, layer: nn.RNNBase):
        op, dirs = _op_name(layer), 2 if layer.bidirectional else 1
        attrs = {"hidden_size_i": layer.hidden_size, "direction_s": "bidirectional" if dirs == 2 else "forward"}
        if op == "GRU":
            attrs["linear_before_reset_i"] = 1  # PyTorch applies the reset gate after the product
        elif op == "RNN":
            attrs["activations_s"] = [layer.nonlinearity.capitalize()] * dirs
        seq = g.op("Cast", lengths, to_i=6)  # ONNX's sequence_lens are int32
        outs = g.op(op, x, w, r, b, seq, outputs=3 if op == "LSTM" else 2, **attrs)
        return outs[0], outs[1]


def _one_layer(rnn: nn.RNNBase, layer: int, in_dim: int) -> nn.RNNBase:
    """A one-layer copy of layer ``layer`` of ``rnn`` (both directions)."""
    kwargs = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    copy = type(rnn)(in_dim, rnn.hidden_size, bias=rnn.bias, bidirectional=rnn.bidirectional, **kwargs)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
    suffixes = [""] + (["_reverse"] if rnn.bidirectional else [])
    copy.load_state_dict({f"{n}_l0{sfx}": getattr(rnn, f"{n}_l{layer}{sfx}").detach().clone()
                          for n in names for sfx in suffixes})
    return copy.eval().requires_grad_(False)  # the trace may hold its weights as constants


class RecurrentLayers(nn.Module):
    """A stacked (bi)directional ``nn.RNN``/``GRU``/``LSTM`` as one ONNX recurrent op per
    layer (see :class:`_RecurrentOp`): the outputs of the packed original on every real step."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        if rnn.proj_size if isinstance(rnn, nn.LSTM) else False:
            raise TaggerError("an LSTM with proj_size cannot be exported")
        dirs = 2 if rnn.bidirectional else 1
        # A plain list, not a ModuleList: these copies only compute the trace's values;
        # the graph holds their weights once, in ONNX's layout (the buffers below).
        self.layers = [_one_layer(rnn, n, rnn.input_size if n == 0 else rnn.hidden_size * dirs)
                       for n in range(rnn.num_layers)]
        for n, layer in enumerate(self.layers):  # ONNX's weight layout, traced as constants
            for name, value in zip(("w", "r", "b"), _onnx_weights(layer)):
                self.register_buffer(f"{name}{n}", value)

    def run(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x [T, B, I] time first -> (every step of the top layer [T, B, D*H], its last states [D, B, H])."""
        for n, layer in enumerate(self.layers):
            weights = (getattr(self, f"{name}{n}") for name in ("w", "r", "b"))
            y, last = _RecurrentOp.apply(x, lengths, *weights, layer)
            x = y.permute(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
        return x, last

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x [B, T, I] -> [B, T, D*H]."""
        return self.run(x.transpose(0, 1), lengths)[0].transpose(0, 1)


class PaddedCharLSTM(nn.Module):
    """:class:`tagger.nn.embed.CharLSTM` on padded spellings: the last state of each direction."""

    def __init__(self, char_lstm: CharLSTM):
        super().__init__()
        self.embed = char_lstm.embed
        self.lstm = RecurrentLayers(char_lstm.lstm)

    def forward(self, chars: Tensor) -> Tensor:
        lengths = (chars != 0).sum(1).clamp(min=1)
        last = self.lstm.run(self.embed(chars).transpose(0, 1), lengths)[1]  # [2, U, H]
        return torch.cat([last[0], last[1]], dim=1)


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
        self.encoder = RecurrentLayers(model.encoder.rnn)
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
        if head.span and head.task not in model.sentence_tasks:
            entry["doc_consistency"] = head.doc_consistency
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
    if isinstance(model, EnsembleTagger):
        raise TaggerError("an ensemble (tagger ensemble) cannot be exported to ONNX yet: export one of its members", model_dir)
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
