"""The folder `curate train` writes (a classifier run): its one owner. Training, evaluation,
export, the config resolver (`base_model` naming a trained folder) and the model cards ask here.

    <output>/model/                 the fine-tuned encoder (transformers, safetensors)
    <output>/metrics.json           the figures (curate.classify.trained owns its format)
    <output>/training_config.yaml   the configs as trained
    <output>/README.md              the model card
    <output>/checkpoints/           Lightning's best and last checkpoints (curate.fit)
    <output>/logs/                  Lightning's CSV log
    <task folder>/                  a task's plots, side models and card: <output>/ for a one-task
                                    model, <output>/<task>/ for each task of a joint one
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.fit import LightningRun

METRICS = "metrics.json"
CARD = "README.md"
CONFUSION_PNG = "confusion_matrix.png"
DISTRIBUTION_PNG = "score_distribution.png"
TRADEOFF_PNG = "threshold_curves.png"
PLOTS = (CONFUSION_PNG, DISTRIBUTION_PNG, TRADEOFF_PNG)  # each task's, copied into its bundle


@dataclass(frozen=True)
class ClassifierRunLayout(LightningRun):
    """checkpoints/, logs/ and model/ as every Lightning run (curate.fit), and its own."""

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def config(self) -> Path:
        return self.root / "training_config.yaml"

    @property
    def card(self) -> Path:
        return self.root / CARD

    def task_dir(self, task: str, joint: bool) -> Path:
        """Where a task's plots, side models and card go."""
        return self.root / task if joint else self.root

    def is_trained(self) -> bool:
        """A folder `curate train` finished: metrics.json beside model/."""
        return self.metrics.is_file() and self.model.is_dir()
