"""`make load`: runs a scenario with k6 or Locust and prints the verdict."""
