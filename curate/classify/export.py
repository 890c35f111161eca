"""`curate export`: a trained classifier -> a bundle that runs with onnxruntime + tokenizers.

Steps: torch.onnx.export of the eager-attention model (transformers' sdpa attention exports
as a graph onnxruntime's optimizer cannot fuse into Attention) -> onnxruntime's transformer
optimizer (Attention, EmbedLayerNormalization,
SkipLayerNormalization and Gelu fusions) -> SmoothQuant on the feed-forward down-projections
(curate.classify.smoothquant) -> dynamic int8 quantisation -> a parity check of both
ONNX models against torch on held-out documents. A bundle whose int8 keep/drop agreement is
under the bar is not written. The encoder's weights also go into `torch/` (fp16 safetensors)
for the GPU path.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curate.atomic import atomic_path
from curate.classify.bundle import (
    TASK_FIELDS,
    TaskSpec,
    file_digests,
    manifest_document,
    parse_manifest,
    task_spec,
    task_specs,
    write_manifest,
)
from curate.classify.fluency import FLUENCY_FILE
from curate.classify.layout import CARD, PLOTS, ClassifierRunLayout
from curate.classify.lexical import LEXICAL_FILE
from curate.classify.model import expected_score, predict
from curate.classify.published import published_source
from curate.classify.smoothquant import ALPHA, DOWN_PROJECTION, smooth_down_projections
from curate.classify.source import Source, task_folders, trained_source
from curate.classify.torch_encoder import TORCH_FILES, save_torch_weights
from curate.classify.trained import is_trained
from curate.documents import read_documents
from curate.errors import CurateError, InputError

logger = logging.getLogger(__name__)

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
SIDE_FILES = (FLUENCY_FILE, LEXICAL_FILE)  # a task's models beside the encoder, numpy only
CALIBRATION_BATCH = 32
CALIBRATION_DOCS = 128  # SmoothQuant's activation maxima: documents beside the parity check's


def onnx_inputs(model) -> list[str]:
    """The graph's inputs: token_type_ids only for models that have them."""
    return [n for n in ONNX_INPUTS if n != "token_type_ids" or model.config.type_vocab_size > 0]


class ParityError(CurateError, RuntimeError):
    """The exported model disagrees with the original more than allowed."""


def export_onnx(model, path: Path, head: list[float] | None = None, opset: int = 17) -> None:
    """The TorchScript exporter (dynamo=False): its BERT graph is the one onnxruntime's fusion
    patterns recognise. With `head` (a multi-class model), the graph returns the expected score
    softmax(logits) . head instead of the single regression output."""
    model.eval()
    names = onnx_inputs(model)
    dummy = tuple(
        torch.ones(2, 16, dtype=torch.long)
        if n != "token_type_ids"
        else torch.zeros(2, 16, dtype=torch.long)
        for n in names
    )

    class ScoreOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            logits = self.inner(**dict(zip(names, inputs, strict=True))).logits
            return expected_score(logits, head)

    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"score": {0: "batch"}}
    torch.onnx.export(
        ScoreOnly(model),
        dummy,
        str(path),
        input_names=names,
        output_names=["score"],
        dynamic_axes=axes,
        opset_version=opset,
        dynamo=False,
        do_constant_folding=True,
    )


def fuse(src: Path, dst: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(
        str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=1
    )
    opt.save_model_to_file(str(dst))
    ops = Counter(node.op_type for node in opt.model.graph.node)
    return {
        k: ops[k]
        for k in (
            "Attention",
            "EmbedLayerNormalization",
            "SkipLayerNormalization",
            "BiasGelu",
            "Gelu",
            "FastGelu",
        )
        if ops[k]
    }


def quantize(
    src: Path,
    dst: Path,
    down_projections: bool = True,
    calibration: list[dict[str, np.ndarray]] | None = None,
) -> list[str]:
    """Dynamic int8, per channel. The feed-forward down-projections' inputs carry BERT's outlier
    activations: with `down_projections` they are smoothed first (SmoothQuant, on the
    `calibration` feeds) and go int8 too, else they stay fp32. Measured on the demo classifier
    (200 documents): per-tensor int8 moved scores by 0.24 on average (90% keep/drop agreement),
    per-channel by 0.030 (98.5%), per-channel without the down-projections by 0.021 (99.5%). At
    128 tokens on one thread (how a filter task runs a bundle) those fp32 down-projections were
    39% of the int8 model's kernel time; int8 they run 1.3-1.4x faster. Unsmoothed, that cost
    the linguistic-quality bundle its keep/drop agreement with fp32 (621 nb/nn web test pages:
    98.87% instead of 99.19%, mean |Δ| 0.065 instead of 0.029); smoothed 99.52%, 0.033.
    Returns the nodes left fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = src
    if down_projections:
        if not calibration:
            raise ValueError("int8 down-projections need calibration feeds (SmoothQuant)")
        source = dst.with_name(f"{dst.stem}.smoothed.onnx")
        smooth_down_projections(src, source, calibration)
    graph = onnx.load(str(source), load_external_data=False).graph
    # ... and the expected-score product of a multi-class head (a 1-D weight, outside the
    # encoder `inner`), which per-channel quantisation cannot take
    keep_fp32 = [
        n.name
        for n in graph.node
        if n.op_type == "MatMul"
        and (
            (not down_projections and DOWN_PROJECTION.search(n.name))
            or not n.name.startswith("/inner/")
        )
    ]
    try:
        quantize_dynamic(
            str(source),
            str(dst),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=keep_fp32,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        if source != src:
            source.unlink(missing_ok=True)
    return keep_fp32


def calibration_feeds(tokenizer, texts: list[str], max_length: int, names: list[str]):
    """ONNX feeds for `texts`, as the runtime builds them (truncated, padded per batch)."""
    feeds = []
    for start in range(0, len(texts), CALIBRATION_BATCH):
        batch = texts[start : start + CALIBRATION_BATCH]
        encoded = tokenizer(
            batch, truncation=True, max_length=max_length, padding=True, return_tensors="np"
        )
        feeds.append({n: np.asarray(encoded[n], dtype=np.int64) for n in names})
    return feeds


def parity(torch_scores: np.ndarray, onnx_scores: np.ndarray, threshold: float) -> dict:
    delta = np.abs(torch_scores - onnx_scores)
    agree = (torch_scores >= threshold) == (onnx_scores >= threshold)
    return {
        "max_abs_delta": float(delta.max()),
        "mean_abs_delta": float(delta.mean()),
        "keep_agreement": float(agree.mean()),
        "n": int(len(delta)),
    }


def export_bundle(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    texts: list[str],
    min_agreement: float = 0.99,
    max_length: int | None = None,
    torch_copy: bool = True,
    int8_down_projections: bool = True,
    calibration: list[str] | None = None,
    **published: Any,
) -> dict[str, Any]:
    """Export `model_dir` to the bundle directory `out`, checking parity on `texts`: a folder
    written by `curate train`, or any transformers sequence-classification model (folder or hub
    id; `published` carries task, scale and threshold, see published_source). With
    `torch_copy`, the encoder also goes into `torch/` for the GPU path; with
    `int8_down_projections`, the feed-forward down-projections are int8 too, smoothed on
    `calibration` (default: `texts`; see quantize). Returns the manifest."""
    src = Path(model_dir)
    if is_trained(src):
        given = sorted(k for k, v in published.items() if v is not None)
        if given:
            raise InputError(f"{src} was written by `curate train`, which fixed its {given}")
        source = trained_source(src, max_length)
    else:
        source = published_source(str(model_dir), max_length=max_length, **published)
    return write_bundle(
        source, Path(out), texts, min_agreement, torch_copy, int8_down_projections, calibration
    )


def write_bundle(
    source: Source,
    out: Path,
    texts: list[str],
    min_agreement: float,
    torch_copy: bool,
    int8_down_projections: bool = True,
    calibration: list[str] | None = None,
) -> dict[str, Any]:
    """ONNX export, fusion, int8, tokenizer, torch copy and parity check into a temporary
    folder beside `out`, which replaces `out` only when everything passed."""
    model, tokenizer, info = source.model, source.tokenizer, source.info
    with atomic_path(out) as tmp:
        tmp.mkdir()
        export_onnx(model, tmp / "raw.onnx", info["head"])
        fused = fuse(
            tmp / "raw.onnx",
            tmp / "model.onnx",
            model.config.num_attention_heads,
            model.config.hidden_size,
        )
        (tmp / "raw.onnx").unlink()
        feeds = None
        if int8_down_projections:
            if not calibration:
                logger.warning("SmoothQuant calibrates on the parity check's documents")
                calibration = texts
            feeds = calibration_feeds(
                tokenizer, calibration, info["max_length"], onnx_inputs(model)
            )
        fp32_nodes = quantize(
            tmp / "model.onnx", tmp / "model.int8.onnx", int8_down_projections, feeds
        )
        tokenizer.save_pretrained(tmp)
        if torch_copy:
            save_torch_weights(model, tmp)
        copy_task_files(source, tmp)
        tasks = [task_spec(t) for t in task_specs(info)]
        shared = {**bundle_fields(info, model, fused, tmp), "int8_fp32_nodes": len(fp32_nodes)}
        if int8_down_projections:
            shared["int8_smoothing"] = {"alpha": ALPHA, "calibration_texts": len(calibration)}
        tasks = check_parity(tasks, shared, model, tokenizer, texts, tmp, min_agreement)
        spec = write_manifest(tmp, tasks, shared)
        card = ClassifierRunLayout(source.folder).card if source.folder else None
        write_bundle_card(tmp / CARD, card, spec)
    return spec


def copy_task_files(source: Source, bundle: Path) -> None:
    """Each task's plots, fluency and lexical models, from the classifier folder into the
    bundle."""
    if not source.folder:
        return
    for folder in task_folders(source.info):
        for name in (*PLOTS, *SIDE_FILES):
            file = source.folder / folder / name
            if file.exists():
                (bundle / folder).mkdir(exist_ok=True)
                shutil.copy(file, bundle / folder / name)


def check_parity(
    tasks: list[TaskSpec],
    shared: dict[str, Any],
    model,
    tokenizer,
    texts: list[str],
    bundle: Path,
    min_agreement: float,
) -> list[TaskSpec]:
    """Each task's fp32 and int8 ONNX scores against the torch model's (with the same lexical
    blend and fluency penalty the bundle applies): the tasks with their `parity`;
    ParityError where int8's keep/drop agreement is under `min_agreement`."""
    from curate.classify.runtime import QualityClassifier

    manifest = parse_manifest(bundle, manifest_document(tasks, shared))
    reference = predict(model, tokenizer, texts, manifest.max_length, head=manifest.head)
    reference = reference.reshape(len(texts), -1)
    fp32 = QualityClassifier(bundle, manifest, variant="fp32")
    onnx_scores = {
        "fp32": fp32.scores(texts),
        "int8": QualityClassifier(bundle, manifest, variant="int8").scores(texts),
    }
    checked = []
    for column, task in enumerate(tasks):
        name = task.task
        expected = fp32.adjust(reference[:, column], texts, name)
        found: dict[str, Any] = {
            variant: parity(expected, scores[name], task.threshold)
            for variant, scores in onnx_scores.items()
        }
        found["min_agreement"] = min_agreement
        checked.append(replace(task, parity=found))
        int8 = found["int8"]
        if int8["keep_agreement"] < min_agreement:
            raise ParityError(
                f"{name}: int8 model keeps/drops differently from torch on "
                f"{1 - int8['keep_agreement']:.2%} of {int8['n']} documents (bar: "
                f"{min_agreement:.2%} agreement; max |Δ| {int8['max_abs_delta']:.4f}, mean "
                f"{int8['mean_abs_delta']:.4f}); no bundle written"
            )
    return checked


def bundle_fields(info: dict, model, fused: dict, bundle: Path) -> dict[str, Any]:
    """The manifest's fields besides its tasks': the source's (max_length, base_model) and the
    export's (ONNX inputs, fused operators, every file's sha256)."""
    side = [f"{d}/{name}".lstrip("/") for d in task_folders(info) for name in SIDE_FILES]
    files = ["model.onnx", "model.int8.onnx", *side, *TOKENIZER_FILES, *TORCH_FILES]
    inputs = onnx_inputs(model)
    own = {k: v for k, v in info.items() if k != "tasks" and k not in TASK_FIELDS}
    return {
        **own,
        "inputs": inputs,
        "fused_ops": fused,
        "sha256": file_digests(bundle, files),
    }


def write_bundle_card(path: Path, training_card: Path | None, spec: dict) -> None:
    tasks = task_specs(spec)
    names = ", ".join(t["task"] for t in tasks)
    if training_card and training_card.exists():
        card = training_card.read_text()
    else:
        card = f"# {names}\n\nExported from {spec['base_model']} by `curate export`.\n"
    rows = "\n".join(
        f"| {t['task']} | {v} | {p['max_abs_delta']:.4f} | {p['mean_abs_delta']:.4f} | "
        f"{p['keep_agreement']:.2%} |"
        for t in tasks
        for v, p in t["parity"].items()
        if isinstance(p, dict)
    )
    first = tasks[0]
    task_arg = f', task="{first["task"]}"' if len(tasks) > 1 else ""
    card += f"""
## ONNX bundle
`model.onnx` (fp32, fused: {spec["fused_ops"]}) and `model.int8.onnx` (dynamic int8) run with
onnxruntime and tokenizers alone:

```python
from curate.classify import QualityClassifier
clf = QualityClassifier.load("{path.parent.name}")
clf.scores(["Fotosyntese er prosessen der ..."])  # {{task: float scores}} for {names}
clf.keep(texts{task_arg})   # score >= {first["threshold"]:.3f}
```

Parity with the torch model on {first["parity"]["int8"]["n"]} held-out documents (max length
{spec["max_length"]}):

| task | model | max abs Δ | mean abs Δ | keep/drop agreement |
| --- | --- | --- | --- | --- |
{rows}
"""
    path.write_text(card, encoding="utf-8")


def parity_sample(data: list[str], n: int, seed: int = 0) -> list[str]:
    """A seeded sample of `n` texts from the documents in `data` for the parity check."""
    texts = [d.text for d in read_documents(data)]
    return random.Random(seed).sample(texts, min(n, len(texts)))
