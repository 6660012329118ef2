"""Test harness: pytest fixtures for real MariaDB, Redis and Prometheus (`stack.ephemeral`) on
free loopback ports, in temporary dirs, and the check that a run leaves nothing behind."""
