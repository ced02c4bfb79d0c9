"""Device models of dom0's user space: the paravirtual framebuffer's backend
(vfb_backend), its PNG snapshots (snapshot) and the VNC server (rfb)."""
