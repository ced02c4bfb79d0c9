"""xenstored: the tree, connections, watches, and its transports (a domain's ring, the tools' Unix socket)."""
