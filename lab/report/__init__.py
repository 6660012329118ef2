"""The deck of one load-test run, or two side by side: `python -m lab.report RUN [--baseline B]`."""
