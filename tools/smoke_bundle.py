"""A small real classifier bundle for the install smoke test (tools/wheel_smoke.sh): the demo
encoder fine-tuned for two epochs on 48 hand-labelled seed documents at 32 tokens, exported with
its parity check. Seconds, not a model to use.

    python tools/smoke_bundle.py OUT_DIR
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK = "educational_value"


def seed_labels(out: Path, per_score: int = 8) -> Path:
    rows = (ROOT / "annotations" / "seed" / f"{TASK}.jsonl").read_text().splitlines()
    picked, seen = [], Counter()
    for row in map(json.loads, rows):
        if seen[row["score"]] < per_score:
            seen[row["score"]] += 1
            picked.append(row)
    path = out / f"{TASK}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked))
    return path


def main(out: str) -> None:
    from curate.classify.config import load_classifier_config
    from curate.classify.export import export_bundle
    from curate.classify.train import train_classifier
    from curate.documents import read_documents

    logging.basicConfig(level=logging.WARNING)
    config = load_classifier_config(
        ROOT / "classifiers" / f"{TASK}.demo.yaml",
        max_length=32,
        split={"validation": 0.2, "test": 0.2, "seed": 1},
        training={"epochs": 2, "batch_size": 8},
    )
    with tempfile.TemporaryDirectory() as tmp:
        labels = seed_labels(Path(tmp))
        model_dir = Path(tmp) / "model"
        train_classifier(config, [labels], [ROOT / "data" / "demo"], model_dir, progress=False)
        texts = [d.text for d in read_documents([ROOT / "data" / "demo"])][:60]
        export_bundle(model_dir, out, texts, min_agreement=0.0, torch_copy=False)
    print(f"bundle written to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
