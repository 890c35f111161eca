"""Embeddings for clustering (ClusterClip): a classifier bundle's encoder, mean-pooled through
onnxruntime (the bundle's graph with its last hidden state made an output), or, with no model,
hashed character n-grams. Both return L2-normalised rows, so KMeans' Euclidean distance ranks
like the cosine distance the ClusterClip paper clusters by."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
NORM_OPS = {"LayerNormalization", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization"}


class HashedEmbedder:
    """Character 3-5-grams within words, hashed into 2^18 features (no model, any language)."""

    name = "hashed"

    def embed(self, texts: list[str]):
        from sklearn.feature_extraction.text import HashingVectorizer

        vectorizer = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), n_features=2**18, alternate_sign=False
        )
        return vectorizer.transform(texts)  # l2-normalised sparse rows


class BundleEmbedder:
    """The encoder of a curate classifier bundle: its last normalisation layer's output, mean
    over the real tokens of each text's first window."""

    def __init__(self, path: str | Path, batch_size: int = 32):
        from curate.classify.runtime import QualityClassifier

        self.classifier = QualityClassifier.load(path)
        self.name = f"bundle:{path}"
        self.batch_size = batch_size
        self._session = None

    @property
    def session(self):
        if self._session is None:
            import onnx
            import onnxruntime as ort

            model = onnx.load(str(self.classifier.model_file))
            hidden = [n.output[0] for n in model.graph.node if n.op_type in NORM_OPS][-1]
            model.graph.output.append(onnx.ValueInfoProto(name=hidden))
            self._hidden = hidden
            self._session = ort.InferenceSession(
                model.SerializeToString(), providers=["CPUExecutionProvider"]
            )
        return self._session

    def embed(self, texts: list[str]) -> np.ndarray:
        tokenizer = self.classifier.tokenizer
        inputs = {i.name for i in self.session.get_inputs()}
        rows = []
        for start in range(0, len(texts), self.batch_size):
            encodings = tokenizer.encode_batch(texts[start : start + self.batch_size])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(encodings), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, enc in enumerate(encodings):
                ids[row, : len(enc.ids)], mask[row, : len(enc.ids)] = enc.ids, 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(
                [self._hidden], {k: v for k, v in feed.items() if k in inputs}
            )
            summed = (hidden[0] * mask[..., None]).sum(1)
            rows.append(summed / mask.sum(1, keepdims=True))
        vectors = np.concatenate(rows).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)


def make_embedder(spec: str):
    """`hashed`, a bundle folder, or `auto`: the first classifiers/*/bundle here, else hashed."""
    if spec == "hashed":
        return HashedEmbedder()
    if spec == "auto":
        found = sorted(Path("classifiers").glob("*/bundle/classifier.json"))
        if not found:
            log.info("embedder auto: no classifier bundle under classifiers/, hashed n-grams")
            return HashedEmbedder()
        spec = str(found[0].parent)
    return BundleEmbedder(spec)
