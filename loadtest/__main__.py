"""python -m loadtest [plan] --tool k6|locust --scenario smoke|load|soak|stress|spike [...]."""

from loadtest.cli import main

raise SystemExit(main())
