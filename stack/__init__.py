"""The native stack: the compose services as local processes on loopback (`make local-up`)."""
