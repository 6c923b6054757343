"""Binary trees with a sentiment label on every node, and the reader of bracketed trees.

A tree is stored flat, the way the level-batched models consume it: node ids
``0..n-1`` are the words (leaves) from left to right, and ids ``n..2n-2`` the
internal nodes in an order where both children of a node come before it, so the
root is always the last id. ``children[k]`` holds the two children of node
``n + k``; ``labels[i]`` the label of node ``i`` (None where unknown).

The file format is the Stanford Sentiment Treebank's: one PTB-style bracketed tree
a line, ``(3 (2 (2 The) (2 Rock)) (4 ...))``: every node is ``(LABEL WORD)`` or
``(LABEL CHILD CHILD)``. Every mistake is a :class:`TreeSyntaxError` naming the
file, line and column.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TaggerError
from ..textfile import text_lines

NUM_LABELS = 5
LABEL_NAMES = ("very negative", "negative", "neutral", "positive", "very positive")

# Only ASCII whitespace separates: the treebank has words with a no-break space ("8\u00a01\\/2").
_TOKEN = re.compile(r"\(|\)|[^ \t\n\r\f\v()]+")


class TreeSyntaxError(TaggerError):
    """A bad tree in a file: ``path:line:column: message``."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 column: int | None = None):
        super().__init__(message, path, line)
        self.column = column

    def __reduce__(self):
        return type(self), (self.message, self.path, self.line, self.column)

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.path, self.line, self.column) if p is not None)
        return ((where + ": ") if where else "") + self.message.replace("\n", " ")


@dataclass
class Tree:
    words: list[str]
    children: list[tuple[int, int]] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = [None] * self.size

    @property
    def size(self) -> int:
        """Number of nodes: ``2n - 1`` for ``n`` words."""
        return len(self.words) + len(self.children)

    @property
    def root(self) -> int:
        return self.size - 1

    @property
    def root_label(self) -> int | None:
        return self.labels[self.root]

    def spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` word span of every node (end exclusive), by node id."""
        out = [(i, i + 1) for i in range(len(self.words))]
        for left, right in self.children:
            out.append((out[left][0], out[right][1]))
        return out

    def heights(self) -> list[int]:
        """0 for a word, else 1 + the larger height of the two children."""
        out = [0] * len(self.words)
        for left, right in self.children:
            out.append(1 + max(out[left], out[right]))
        return out

    def with_labels(self, labels: Sequence[int | None]) -> Tree:
        return Tree(list(self.words), list(self.children), list(labels))

    def to_string(self, labels: Sequence[int | None] | None = None) -> str:
        """The bracketed form; nodes without a label are written with ``_``."""
        labels = self.labels if labels is None else labels
        text = [f"({_label_text(labels[i])} {w})" for i, w in enumerate(self.words)]
        for k, (left, right) in enumerate(self.children):
            text.append(f"({_label_text(labels[len(self.words) + k])} {text[left]} {text[right]})")
        return text[-1]


def _label_text(label: int | None) -> str:
    return "_" if label is None else str(label)


def balanced_tree(words: Sequence[str]) -> Tree:
    """A balanced binary tree over ``words`` (the left half gets the extra word)."""
    if not words:
        raise TaggerError("cannot build a tree over no words")
    children: list[tuple[int, int]] = []

    def build(start: int, end: int) -> int:
        if end - start == 1:
            return start
        middle = (start + end + 1) // 2
        left, right = build(start, middle), build(middle, end)
        children.append((left, right))
        return len(words) + len(children) - 1

    build(0, len(words))
    return Tree(list(words), children)


def tree_from_merges(words: Sequence[str], merges: Sequence[tuple[int, int]]) -> Tree:
    """A tree from the order its nodes were built: merge ``k`` joins two earlier
    nodes into node ``len(words) + k``."""
    return Tree(list(words), [(int(a), int(b)) for a, b in merges])


# --------------------------------------------------------------------------- reading


@dataclass
class _Node:
    """A parsed node before flattening: where it starts, its label and its parts."""

    column: int
    label: int | None
    word: str | None = None
    parts: list[_Node] = field(default_factory=list)


def parse_tree(text: str, path: str | Path | None = None, line: int | None = None,
               gold_labels: bool = True) -> Tree:
    """One bracketed tree. ``gold_labels=False`` (trees given for prediction) accepts
    any label token (``NP``, ``_``) and keeps none of them."""
    tokens = [(m.group(), m.start() + 1) for m in _TOKEN.finditer(text)]

    def fail(message: str, column: int) -> TreeSyntaxError:
        return TreeSyntaxError(message, path, line, column)

    if not tokens:
        raise fail("empty tree", 1)
    if tokens[0][0] != "(":
        raise fail(f"expected '(' to start a tree, found '{tokens[0][0]}'", tokens[0][1])
    top, end = _parse_nodes(tokens, fail, gold_labels)
    if end < len(tokens):
        token, column = tokens[end]
        if token == ")":
            raise fail("unbalanced brackets: this ')' closes nothing", column)
        raise fail(f"text after the end of the tree: '{token}'", column)
    return _flatten(top)


def _parse_nodes(tokens: list[tuple[str, int]], fail, gold_labels: bool) -> tuple[_Node, int]:
    """The tree that starts at ``tokens[0]`` and the index just after its last ')'.
    A stack of open nodes rather than recursion, so depth is not limited."""
    open_nodes: list[_Node] = []
    at = 0
    while at < len(tokens):
        token, column = tokens[at]
        if token == "(":
            label_token, label_column = tokens[at + 1] if at + 1 < len(tokens) else (None, column)
            if label_token is None:
                raise fail("unbalanced brackets: this '(' is never closed", column)
            if label_token == ")":
                raise fail("empty tree: '()' has no label and no words", column)
            if label_token == "(":
                raise fail("a node must start with its label, found '('", label_column)
            label = _read_label(label_token, label_column, fail) if gold_labels else None
            open_nodes.append(_Node(column, label))
            at += 2
            continue
        node = open_nodes[-1]
        if token != ")":
            if node.word is not None or node.parts:
                raise fail(f"unexpected word '{token}': a word must be alone in its own (LABEL WORD) node", column)
            node.word = token
            at += 1
            continue
        _check_node(node, fail)
        open_nodes.pop()
        at += 1
        if not open_nodes:
            return node, at
        open_nodes[-1].parts.append(node)
        if open_nodes[-1].word is not None:
            raise fail("a node holds both a word and subtrees", open_nodes[-1].column)
    raise fail("unbalanced brackets: this '(' is never closed", open_nodes[-1].column)


def _check_node(node: _Node, fail) -> None:
    """A node being closed: one word, or exactly two subtrees."""
    if node.word is None and not node.parts:
        raise fail("empty tree: a node with a label but no words", node.column)
    if node.parts and len(node.parts) != 2:
        count = len(node.parts)
        raise fail(f"a node with {count} {'child' if count == 1 else 'children'}; the tree models are binary "
                   "(2 children, or one word)", node.column)


def _read_label(token: str, column: int, fail) -> int:
    try:
        label = int(token)
    except ValueError:
        raise fail(f"label '{token}' is not an integer (sentiment labels are 0-{NUM_LABELS - 1})", column) from None
    if not 0 <= label < NUM_LABELS:
        raise fail(f"label {label} is out of range (sentiment labels are 0-{NUM_LABELS - 1})", column)
    return label


def _flatten(top: _Node) -> Tree:
    """The flat form: words first, then internal nodes bottom-up (children before parents)."""
    words: list[str] = []
    leaf_labels: list[int | None] = []
    children: list[tuple[int, int]] = []
    inner_labels: list[int | None] = []
    # An explicit stack instead of recursion: a 500-word right-branching tree is 500 deep.
    ids: dict[int, int] = {}
    pending: list[tuple[_Node, bool]] = [(top, False)]
    inner: list[_Node] = []
    while pending:
        node, expanded = pending.pop()
        if node.word is not None:
            ids[id(node)] = len(words)
            words.append(node.word)
            leaf_labels.append(node.label)
        elif expanded:
            inner.append(node)
        else:
            pending.append((node, True))
            pending.extend((part, False) for part in reversed(node.parts))
    n = len(words)
    for k, node in enumerate(inner):
        ids[id(node)] = n + k
        children.append((ids[id(node.parts[0])], ids[id(node.parts[1])]))
        inner_labels.append(node.label)
    return Tree(words, children, leaf_labels + inner_labels)


def read_trees(path: str | Path, gold_labels: bool = True) -> list[Tree]:
    """Every tree of a file (one a line; blank lines are skipped)."""
    path = Path(path)
    return [tree for _, tree in iter_trees(path, gold_labels)]


def iter_trees(path: Path, gold_labels: bool = True) -> Iterator[tuple[int, Tree]]:
    """``(line number, tree)`` for each non-blank line, read lazily."""
    for line_no, text in text_lines(path, "trees file"):
        if text.strip():
            yield line_no, parse_tree(text, path, line_no, gold_labels)
