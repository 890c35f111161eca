"""One Lightning fit with resume for every trainer curate runs (classifiers, language models),
and the folders such a run keeps (`LightningRun`; the classifier and LM layouts add their own):
checkpoints/last.ckpt is the resume point, `--resume` continues from it, and a `--resume` with
nothing to resume says so and starts from the beginning. Checkpoints load with weights_only:
curate never unpickles arbitrary objects."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LightningRun:
    """A Lightning run's folder: checkpoints/ (best and last), logs/ (CSVLogger), model/."""

    root: Path
    LOGS: ClassVar[str] = "logs"  # Lightning's CSVLogger `name` under the root

    @classmethod
    def of(cls, folder: str | os.PathLike):
        return cls(Path(folder))

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def model(self) -> Path:
        return self.root / "model"


def fit(trainer, module, datamodule, run: LightningRun, resume: bool) -> str | None:
    """`trainer.fit`, from the run's last checkpoint when `resume` and there is one; returns
    the checkpoint it resumed from (None: from the beginning)."""
    last = run.last_checkpoint
    resumed = str(last) if resume and last.exists() else None
    if resume and resumed is None:
        log.warning("--resume: no %s yet, starting from the beginning", last)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resumed, weights_only=True)
    return resumed
