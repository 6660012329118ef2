"""Test harness: real MariaDB, Redis and Prometheus on free loopback ports, in temporary dirs."""
