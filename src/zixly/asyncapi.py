"""AsyncAPI documents of the FastStream apps (backtester, aggregator), built from their composition roots.

``zixly asyncapi [DIR]`` writes ``DIR/<service>.json`` (AsyncAPI 3.0): every channel each app consumes
(with its retry topic) and publishes to (with the message schemas, retry and dead-letter topics).
Building an app does no I/O, so this needs no broker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def documents() -> dict[str, dict[str, Any]]:
    from zixly_aggregator.bootstrap import build as build_aggregator
    from zixly_aggregator.config import Settings as AggregatorSettings
    from zixly_backtester.bootstrap import build as build_backtester
    from zixly_backtester.config import Settings as BacktesterSettings

    apps = {
        "backtester": build_backtester(BacktesterSettings()),
        "aggregator": build_aggregator(AggregatorSettings()),
    }
    return {name: app.schema.to_specification().to_jsonable() for name, app in apps.items()}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents().items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
