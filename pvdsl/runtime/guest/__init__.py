"""The guest kernel: loading a compiled backend into a domain, and the kernel's drivers."""
