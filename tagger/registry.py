"""One registry per pluggable kind: every name a recipe may give is looked up here.

A :class:`Registry` maps names to items (a class, a factory, a reader) in the order
they were registered, and reads like a dict: ``name in REG``, ``REG[name]``,
``REG.get(name)``, ``list(REG)``. An unknown name is one line listing the choices
(:class:`UnknownName`, a :class:`TaggerError` that ``dict.get`` also catches as a
``KeyError``). Items are added by the module that defines them, with a decorator::

    @registry.poolings.register("median")
    class MedianPooling(Pooling): ...

or a call, ``registry.optimizers.register("adagrad", make_adagrad)``. The modules
keep their own names for the same objects (``nn.heads.HEADS is registry.heads``),
so a registry is filled when its module is imported; ``recipe_check`` imports them
all before it checks a recipe's names.

This is the shape of thinc's ``registry`` (one namespace per kind), without
``catalogue``: its registries have no ``in``, no iteration in registration order, no
removal and a ``ValueError`` for an unknown name, so a wrapper would be longer than this.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar

from .errors import TaggerError

T = TypeVar("T")


class UnknownName(TaggerError, KeyError):
    """A name that no entry of a registry has: a user mistake, said in one line."""


class Registry(MutableMapping[str, T]):
    """Names -> items of one kind, in registration order.

    ``kind`` is how an error names an entry (``"pooling"``, ``"head kind"``). Each
    entry may carry keyword ``info`` (``register("tsv", reader, text=True)``) for
    code that must know something about an entry before using it.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._info: dict[str, dict[str, Any]] = {}

    def register(self, name: str, item: T | None = None, **info: Any) -> Any:
        """Add ``item`` under ``name`` and return it; without ``item``, a decorator that does so.

        A second, different item under a taken name is a ``ValueError`` (a programming
        mistake: it would silently replace a built-in); registering the same item again is fine.
        """
        if item is not None:
            self._add(name, item, info)
            return item

        def decorator(obj: T) -> T:
            self._add(name, obj, info)
            return obj

        return decorator

    def _add(self, name: str, item: T, info: dict[str, Any]) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._items and self._items[name] is not item:
            raise ValueError(f"{self.kind} {name!r} is already registered (to {self._items[name]!r})")
        self._items[name] = item
        self._info[name] = dict(info)

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its item (tests, plugins replacing an entry on purpose)."""
        item = self[name]
        del self._items[name]
        del self._info[name]
        return item

    def info(self, name: str) -> dict[str, Any]:
        """The keyword ``info`` given when ``name`` was registered (a copy)."""
        self[name]  # an unknown name is the same one-line error
        return dict(self._info[name])

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def unknown(self, name: object) -> UnknownName:
        """The error for a name this registry does not have, listing the choices."""
        choices = ", ".join(sorted(self._items)) or "none registered"
        return UnknownName(f"unknown {self.kind} {name!r} (choose: {choices})")

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):  # TypeError: an unhashable value from a recipe
            raise self.unknown(name) from None

    def __setitem__(self, name: str, item: T) -> None:
        self._add(name, item, {})

    def __delitem__(self, name: str) -> None:
        self.unregister(name)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._items
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))  # a copy: registering while iterating is safe

    def __len__(self) -> int:
        return len(self._items)

    # A registry is one namespace, not a value: equal only to itself, and hashable.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"


# One registry per kind, filled by the modules named beside it.
families: Registry[Any] = Registry("model family")  # "tagger", "tree", ...: see ARCHITECTURE.md
heads: Registry[type] = Registry("head kind")  # nn/heads.py
poolings: Registry[type] = Registry("pooling")  # nn/pooling.py
char_encoders: Registry[Callable[..., Any]] = Registry("char encoder")  # nn/embed.py
cells: Registry[type] = Registry("cell")  # nn/encode.py
optimizers: Registry[Callable[..., Any]] = Registry("optimizer")  # training.py
schedules: Registry[Callable[..., Any]] = Registry("schedule")  # training.py
data_formats: Registry[Callable[..., Any]] = Registry("data format")  # corpus.py
sources: Registry[Callable[..., Any]] = Registry("dataset")  # sources/
tokenizers: Registry[Callable[[str], list[str]]] = Registry("tokenizer")  # tokenize.py

REGISTRIES: dict[str, Registry[Any]] = {
    "families": families, "heads": heads, "poolings": poolings, "char_encoders": char_encoders, "cells": cells,
    "optimizers": optimizers, "schedules": schedules, "data_formats": data_formats, "sources": sources,
    "tokenizers": tokenizers,
}
