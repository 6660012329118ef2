"""Our Prometheus exporters."""
