"""The optional extra corpus (stack.extras, SHOPLAB_EXTRAS) as the tests see it: what is there,
and parameters that skip, in one line with one reason, when it is not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stack.extras import SAMPLES, find_extras, sample_files

EXTRAS = find_extras(os.environ)
# Every skip for a missing extra starts so; tests/conftest.py counts them in the summary.
SKIP_PREFIX = "extras absent: "
SAMPLES_DIR: Path | None = EXTRAS.samples


def skip_reason(relative: str = SAMPLES) -> str:
    return SKIP_PREFIX + EXTRAS.why_not(relative)


def extra_samples() -> list[Path]:
    """The extra InnoDB status samples (empty without the extras)."""
    return sample_files(EXTRAS)


def sample_params(names) -> list:
    """`names` of extra samples as parameters, or one that skips when the samples are absent."""
    if SAMPLES_DIR is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()), id="no-extras")]
    return sorted(names)
