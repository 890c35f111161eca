"""Text vectors for semantic deduplication from a bundle's own encoder, without a second encoder
pass: the encoder's embedding layer (token, position and type vectors, layer-normalised, as the
transformer's first input) averaged over a text's first `windows` windows of `max_length`
tokens, read with numpy from the bundle's torch copy (`torch/model.safetensors`).

Why not the scorer's last layers: a classifier fine-tuned on quality keeps little of a text's
content there. Measured on the web sample's validation pages and the near-duplicate set
(benchmarks/hygiene.py), at the cosine threshold that gives 0.5% of the distinct pages a
neighbour: the fine-tuned MiniLM's last layer joined none of the reworded pairs, its first
layer's output on the scored 128-token window 55%, the embedding layer over two windows (256
tokens) 88%. Averaging over every window of a long page is worse again (42%): long pages'
averages converge on the language's mean vector and all look alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from curate.classify.torch_encoder import TORCH_DIR
from curate.errors import InputError

WINDOWS = 2
ROBERTA_TYPES = ("roberta", "xlm-roberta", "camembert")  # positions start after the padding id


class TextVectors:
    """Unit-length text vectors (len(texts), hidden size) from the bundle at `path`; zeros for
    texts without tokens. Loads its tables on first use (picklable before)."""

    def __init__(self, path: str | Path, tokenizer, max_length: int, windows: int = WINDOWS):
        self.path, self.tokenizer = Path(path), tokenizer
        self.max_length, self.windows = max_length, windows
        self._tables: dict[str, np.ndarray] | None = None

    def __getstate__(self):
        return {**self.__dict__, "_tables": None}

    @property
    def tables(self) -> dict[str, np.ndarray]:
        if self._tables is None:
            self._tables = read_tables(self.path / TORCH_DIR)
        return self._tables

    def __call__(self, texts: list[str]) -> np.ndarray:
        t = self.tables
        vectors = np.zeros((len(texts), t["word"].shape[1]), dtype=np.float32)
        cut = self.max_length * self.windows * 24  # no wordpiece spans more characters
        for row, encoding in enumerate(self.tokenizer.encode_batch([s[:cut] for s in texts])):
            windows = [encoding, *encoding.overflowing][: self.windows]
            ids = [w.ids for w in windows if w.ids]
            if not ids:
                continue
            hidden = np.concatenate([self.layer(np.asarray(i)) for i in ids])
            mean = hidden.mean(axis=0)
            vectors[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return vectors

    def layer(self, ids: np.ndarray) -> np.ndarray:
        """The embedding layer's output for one window of token ids."""
        t = self.tables
        positions = np.arange(len(ids)) + t["position_offset"]
        x = t["word"][ids] + t["position"][positions] + t["type"][0]
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + t["eps"]) * t["ln_weight"] + t["ln_bias"]


def read_tables(folder: Path) -> dict:
    """The embedding layer's weights (float32) from a transformers safetensors checkpoint."""
    from safetensors import safe_open

    file, config = folder / "model.safetensors", folder / "config.json"
    if not file.exists() or not config.exists():
        raise InputError(f"{folder}: no torch copy of the encoder; export the bundle again")
    settings = json.loads(config.read_text())
    parts = {
        "word": "embeddings.word_embeddings.weight",
        "position": "embeddings.position_embeddings.weight",
        "type": "embeddings.token_type_embeddings.weight",
        "ln_weight": "embeddings.LayerNorm.weight",
        "ln_bias": "embeddings.LayerNorm.bias",
    }
    with safe_open(str(file), framework="numpy") as f:
        keys = list(f.keys())
        tables = {}
        for name, suffix in parts.items():
            key = next((k for k in keys if k.endswith(suffix)), None)
            if key is None:
                raise InputError(f"{file}: no {suffix}; not a BERT-style encoder")
            tables[name] = f.get_tensor(key).astype(np.float32)
    roberta = settings.get("model_type") in ROBERTA_TYPES
    tables["position_offset"] = settings.get("pad_token_id", 1) + 1 if roberta else 0
    tables["eps"] = float(settings.get("layer_norm_eps", 1e-12))
    return tables
