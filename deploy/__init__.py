"""Deployment beyond compose: Kubernetes manifests (k8s/) and their offline check."""
