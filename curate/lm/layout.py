"""The folder of one language-model run (`curate pretrain`, `sft`, `dpo`, and each run of an
ablation): its one owner. Everything that writes or reads such a folder asks here.

    <output>/checkpoints/last.ckpt   the resume point (curate.fit), and the best step
    <output>/logs/metrics.csv        Lightning's CSV log
    <output>/token_cache/            tokenised corpora, keyed by files and tokenizer
    <output>/summary.json            what the run did (steps, tokens/s, metrics, where the model is)
    <output>/model/                  the model (adapters merged in), for transformers and vLLM
    <output>/adapter/                an adapter run's adapter alone
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.fit import LightningRun


@dataclass(frozen=True)
class LMRunLayout(LightningRun):
    """checkpoints/, logs/ and model/ as every Lightning run (curate.fit), and its own."""

    @property
    def token_cache(self) -> Path:
        return self.root / "token_cache"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    def finished(self) -> bool:
        """The run wrote its summary (written last, once the model is saved)."""
        return self.summary.exists()
