"""pvdsl: a language and compiler for paravirtualisation hook tables."""

__version__ = "0.1.0"
