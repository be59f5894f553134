"""Data: the built-in offline corpus, text loading, tokenizers, packing and collators."""
