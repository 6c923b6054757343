"""Recurrent language models: character or word level, trained with truncated BPTT.

They are scored (bits per character, perplexity), sampled with a temperature, inspected
unit by unit, and feed the tagger as contextual character-LM embeddings. Submodules are
imported where used, so ``tagger lm --help`` does not load PyTorch.
"""
