"""Export the JSON Schema of every message type at its current version.

``zixly-contracts export-schemas DIR`` writes ``DIR/<ce type>/v<version>.json``. The committed copies in
``libs/contracts/schemas`` are the record each future version must stay compatible with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from zixly_contracts.envelope import REGISTRY


def current_schemas() -> dict[tuple[str, int], dict[str, Any]]:
    return {(entry.name, entry.version): entry.model.model_json_schema() for entry in REGISTRY.values()}


def export(directory: Path) -> list[Path]:
    written = []
    for (name, version), schema in sorted(current_schemas().items()):
        path = directory / name / f"v{version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zixly-contracts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export-schemas", help="write the JSON Schema of every message type")
    exp.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    for path in export(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
