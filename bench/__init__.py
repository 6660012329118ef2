"""Benchmarks behind `make bench-*`: the shop against its textbook peer, the InnoDB exporter."""
