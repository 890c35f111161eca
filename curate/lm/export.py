"""Write a model and its tokenizer in transformers' format, atomically."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def save_model(model, tokenizer, target: str | Path) -> Path:
    """save_pretrained into a temporary folder beside `target`, then rename: a reader never
    sees a half-written model, and a killed run leaves the previous one in place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return target
