"""Grafana dashboards as code (grafanalib): one module per dashboard."""
