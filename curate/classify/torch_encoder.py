"""The scorer's GPU path: the bundle's encoder in torch, half precision, SDPA attention.

A bundle keeps its encoder's weights twice: as ONNX for onnxruntime (the CPU path, no torch)
and, in `torch/`, as fp16 safetensors with the transformers config. On a CUDA GPU the torch copy
runs in fp16 or bf16 with scaled-dot-product attention; onnxruntime's CUDA provider needs the
separate `onnxruntime-gpu` wheel and its fp32 model. `QualityClassifier` does the tokenising,
length sorting and token-budgeted batching on both paths; this module only runs a padded batch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from curate.errors import InputError

TORCH_DIR = "torch"
TORCH_FILES = ("torch/config.json", "torch/model.safetensors")
DTYPES = ("float16", "bfloat16", "float32")

logger = logging.getLogger(__name__)


def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA GPU (importing torch only to ask)."""
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def save_torch_weights(model, bundle: Path) -> list[str]:
    """Write the encoder as fp16 safetensors + config into `bundle/torch/`; returns the files
    (relative to the bundle) for its sha256 list. fp16 halves the copy; inference weights of
    BERT-style encoders lie well inside its range."""
    import copy

    import torch

    half = copy.deepcopy(model).to(torch.float16)
    half.save_pretrained(bundle / TORCH_DIR, safe_serialization=True)
    return [f for f in TORCH_FILES if (bundle / f).exists()]


class TorchEncoder:
    """Runs padded batches of token ids through the encoder on `device`, returning one float32
    score per row."""

    def __init__(self, bundle: Path, device: str, dtype: str, head: list[float] | None = None):
        import torch
        from transformers import AutoModelForSequenceClassification
        from transformers.utils import logging as hf_logging

        if dtype not in DTYPES:
            raise InputError(f"dtype must be one of {', '.join(DTYPES)}: {dtype!r}")
        hf_logging.disable_progress_bar()
        self.torch = torch
        self.device = torch.device(device)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            Path(bundle) / TORCH_DIR,
            dtype=getattr(torch, dtype),
            attn_implementation="sdpa",
        )
        self.model.to(self.device).eval()
        # a multi-class model's score: the expected class value (curate.classify.published)
        self.head = None if head is None else torch.tensor(head, device=self.device)

    def __call__(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        inputs = {
            k: torch.from_numpy(v).to(self.device, non_blocking=True) for k, v in feed.items()
        }
        with torch.inference_mode():
            logits = self.model(**inputs).logits.float()
            scores = logits.reshape(-1) if self.head is None else logits.softmax(-1) @ self.head
        return scores.cpu().numpy()
