"""One Lightning fit with resume for every trainer curate runs (classifiers, language models):
OUT/checkpoints/last.ckpt is the resume point, `--resume` continues from it, and a `--resume`
with nothing to resume says so and starts from the beginning. Checkpoints load with
weights_only: curate never unpickles arbitrary objects."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def last_checkpoint(out: Path) -> Path:
    return out / "checkpoints" / "last.ckpt"


def fit(trainer, module, datamodule, out: Path, resume: bool) -> str | None:
    """`trainer.fit`, from OUT's last checkpoint when `resume` and there is one; returns the
    checkpoint it resumed from (None: from the beginning)."""
    last = last_checkpoint(out)
    resumed = str(last) if resume and last.exists() else None
    if resume and resumed is None:
        log.warning("--resume: no %s yet, starting from the beginning", last)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resumed, weights_only=True)
    return resumed
