"""Write a model and its tokenizer in transformers' format, atomically."""

from __future__ import annotations

from pathlib import Path

from curate.atomic import atomic_path


def save_model(model, tokenizer, target: str | Path) -> Path:
    """save_pretrained into a temporary folder beside `target`, then rename: a reader never
    sees a half-written model, and a killed run leaves the previous one in place."""
    target = Path(target)
    with atomic_path(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target
