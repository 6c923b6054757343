"""Request and response bodies. The request is validated strictly (no coercion: a
number where a string belongs is an error, not a string), unknown fields are
refused, and every validation error becomes one line naming the field."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

INPUT_FIELDS = ("text", "tokens", "texts", "sentences")


class PredictRequest(BaseModel):
    """Exactly one of ``text``, ``tokens``, ``texts``, ``sentences``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"text": "EU rejects German call to boycott British lamb."},
                     {"sentences": [["EU", "rejects", "German", "call"]], "explain": False}]})

    text: str | None = Field(None, description="One sentence of raw text, split by the model's tokenizer.")
    tokens: list[str] | None = Field(None, description="One sentence, already split into words.")
    texts: list[str] | None = Field(None, description="Several sentences of raw text.")
    sentences: list[list[str]] | None = Field(None, description="Several sentences, already split into words.")
    explain: bool = Field(False, description="Add each word's attention weight (classifiers with attention pooling).")


class Span(BaseModel):
    label: str
    start: int | None = Field(description="Character offset of the first character (code points).")
    end: int | None = Field(description="Character offset after the last character.")
    token_start: int
    token_end: int = Field(description="Index after the last token.")
    text: str | None


class SentenceResult(BaseModel):
    text: str = Field(description="The sentence's text (tokens joined by spaces for tokenized input).")
    tokens: list[str]
    offsets: list[list[int] | None] = Field(description="[start, end) of each token in text.")
    tags: dict[str, list[str]] = Field(description="Token tasks: a label per token.")
    spans: dict[str, list[Span]] = Field(description="Span (BIO) tasks: the entities.")
    labels: dict[str, list[str]] = Field(description="Sentence tasks: the predicted labels.")
    probabilities: dict[str, dict[str, float]] = Field(description="Sentence tasks: every label's probability.")
    attention: dict[str, list[float]] | None = Field(None, description="With explain: a weight per token.")


class PredictResponse(BaseModel):
    model: str
    sentences: list[SentenceResult]


class ErrorResponse(BaseModel):
    error: str = Field(description="What was wrong, in one line.")


def validation_message(err: ValidationError) -> str:
    """The first error as ``field: problem`` (``sentences[0][2]: Input should be a valid string``)."""
    first = err.errors()[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    if first["type"] == "extra_forbidden":
        message = f"unknown field (send one of {', '.join(INPUT_FIELDS)}, and optionally explain)"
    elif not where:
        where, message = "body", 'expected a JSON object such as {"text": "..."}'
    else:
        message = first["msg"]
    more = len(err.errors()) - 1
    return f"{where}: {message}" + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


def parse_request(data: object) -> PredictRequest:
    """The request in ``data`` (parsed JSON); a ValueError with a one-line message if it is not one."""
    try:
        request = PredictRequest.model_validate(data)
    except ValidationError as err:
        raise ValueError(validation_message(err)) from None
    given = [name for name in INPUT_FIELDS if getattr(request, name) is not None]
    if len(given) != 1:
        got = f", not {' and '.join(given)} together" if given else ""
        raise ValueError(f"body: give one of {', '.join(INPUT_FIELDS)}{got}")
    return request
