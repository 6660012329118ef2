"""`python -m exporters.innodb ...`: see cli.py."""

from exporters.innodb.cli import main

raise SystemExit(main())
