"""The `pvdsl` command: one module per group of verbs."""

from .main import main

__all__ = ["main"]
