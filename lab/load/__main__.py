"""python -m lab.load [plan] --tool k6|locust --scenario smoke|load|soak|stress|spike [...]."""

from lab.load.cli import main

raise SystemExit(main())
