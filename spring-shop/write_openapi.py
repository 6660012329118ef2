"""Writes shop/openapi.py's document where the Spring shop's build takes it: one contract.

`python spring-shop/write_openapi.py` (scripts/setup.sh, spring-shop/Dockerfile) writes
spring-shop/target/generated-resources/openapi/openapi.json, which Maven packs into the jar.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "target" / "generated-resources" / "openapi" / "openapi.json"


def document() -> str:
    sys.path.insert(0, str(HERE.parent))
    from shop.openapi import spec

    return json.dumps(spec(), indent=1, sort_keys=True) + "\n"


def main() -> int:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    text = document()
    if not TARGET.exists() or TARGET.read_text() != text:
        TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
