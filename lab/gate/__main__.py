"""python -m lab.gate [ab]: the CI perf gate, or the A/B of BASE against the working tree."""

from lab.gate.cli import main

raise SystemExit(main())
