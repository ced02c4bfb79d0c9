"""Instruments for the fuzzer: hypercall recording, store watches, batched calls, random hypercalls."""
