"""The Xen hypervisor model: machine memory and frame table, page types, paging, domains, traps, grant tables."""
