"""What a server accepts and how it batches: one frozen dataclass, shared by the CLI,
the app and the tests (no web imports here, so ``tagger --help`` stays fast)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import TaggerError


@dataclass(frozen=True)
class ServeSettings:
    max_batch: int = 256          # sentences gathered into one model batch
    max_wait_ms: float = 5.0      # how long the first request of a batch waits for company
    max_body: int = 1_000_000     # bytes in a request body
    max_sentences: int = 1000     # sentences in one request
    max_tokens: int = 1000        # words in one sentence (after the model's tokenizer)
    threads: int = 1              # PyTorch threads in the model thread; 0 leaves PyTorch's own setting

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0 and not (name in ("max_wait_ms", "threads") and value == 0):
                raise TaggerError(f"--{name.replace('_', '-')} must be positive, got {value}")

    def to_dict(self) -> dict:
        return asdict(self)
