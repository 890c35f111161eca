"""What every benchmark ends with: print its markdown table and write it, with the raw
figures, beside each other (`<out>.md`, `<out>.json`) for results_table.py to collect."""

from __future__ import annotations

import json
from pathlib import Path


def write_results(out: str | Path, lines: list[str], data: dict) -> None:
    out = Path(out)
    table = "\n".join(lines) + "\n"
    print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(table)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2))
