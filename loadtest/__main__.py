"""python -m loadtest --tool k6|locust --scenario smoke|load|soak|stress|spike [...]."""

from loadtest.runner import main

raise SystemExit(main())
