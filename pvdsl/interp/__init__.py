"""pvdsl.interp: the reference interpreter of the language (the fuzzer's
semantic oracle). It runs a checked backend's hooks, helpers and laws in
Python, with the semantics pvdsl/codegen gives them, against memory, CPU
state and hypercall answers the caller supplies. docs/interp.md describes it."""

from .interpreter import DEFAULT_BUDGET, InterpError, Interpreter
from .memory import SparseMemory
from .state import CpuState, InterpFault, InterpResult, Memory, MemoryFault, State

__all__ = ["DEFAULT_BUDGET", "CpuState", "InterpError", "InterpFault", "InterpResult", "Interpreter", "Memory",
           "MemoryFault", "SparseMemory", "State"]
