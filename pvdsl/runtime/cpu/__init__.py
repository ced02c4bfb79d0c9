"""The emulated x86 CPU (unicorn): vCPUs, register access, hlt stops, the kernel calling convention."""
