"""Recurrent language models: character or word level, trained with truncated BPTT.

They are scored (bits per character, perplexity), sampled with a temperature, inspected
unit by unit, and feed the tagger as contextual character-LM embeddings.
"""
from .config import LMConfig
from .model import LanguageModel, load_lm

__all__ = ["LMConfig", "LanguageModel", "load_lm"]
