"""The deck of one load-test run (or two side by side): `python -m report RUN [--baseline B]`."""
