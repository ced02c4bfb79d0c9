"""The long-lived host and its toolstack: the domain builder, the host server, the daemon."""
