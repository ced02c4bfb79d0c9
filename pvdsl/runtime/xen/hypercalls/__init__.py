"""Xen's hypercalls, one module per hypercall family; registry.py maps numbers to handlers."""
