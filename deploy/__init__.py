"""Deployment beyond compose: the Kubernetes manifests (k8s/), the files their ConfigMaps carry
(sources), and their offline check (check: render, validate, parity)."""
