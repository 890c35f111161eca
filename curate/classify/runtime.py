"""QualityClassifier: score texts with an exported bundle, using onnxruntime + tokenizers only.

No torch, no transformers: this module imports neither, so a scoring worker stays small.
The object is picklable (sessions are created lazily, per process), as datatrove workers need.

Speed: texts are tokenised in one Rust call, sorted by length and packed into batches under a
token budget (padding is what costs time on mixed-length web text), then restored to input
order. Long documents are scored on their first ``max_length`` tokens by default;
``chunking="mean"`` or ``"max"`` scores overlapping windows and aggregates them.

Devices: ``device="cpu"`` runs the ONNX model with onnxruntime's CPU provider; ``"cuda"`` runs
the bundle's torch copy in half precision (curate.classify.torch_encoder), or the fp32 ONNX
model on onnxruntime's CUDA provider where the bundle has no torch copy and onnxruntime-gpu is
installed; ``"auto"`` takes ``"cuda"`` when torch sees a GPU. ``engine="torch"`` runs the
torch copy on any device (fp32 on the CPU: a parity check without a GPU).

Tasks: a bundle of several tasks (one encoder, one output per task) scores them all in one
pass: ``scores(texts)`` returns every task's scores; the single-task methods (``score``,
``keep``, ``threshold``, ...) take ``task=`` and need it only where the bundle holds several.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from curate.classify.bundle import BundleError, Manifest, TaskSpec, read_manifest, verify_files
from curate.classify.cascade import Cascade
from curate.classify.fluency import FluencyParams, WordBigramLM, fluency_penalty
from curate.classify.label_scale import LabelScale
from curate.classify.lexical import LexicalModel
from curate.classify.side import SideModels, SideParts
from curate.classify.text_vectors import TextVectors
from curate.classify.torch_encoder import TORCH_FILES
from curate.errors import InputError

CHARS_PER_TOKEN_CAP = 24  # no wordpiece token spans more characters: safe pre-truncation
DEVICES = ("cpu", "cuda", "auto")
ENGINES = ("onnxruntime", "torch")
GPU_BATCH_TOKENS = 131072  # a GPU wants large batches; measured in benchmarks/score_throughput.py
# On the CPU smaller batches stay in cache and in less memory: on 200 real documents at 512
# tokens, int8, 2 threads (benchmarks/score_ceiling.py), 4,096 tokens per batch scored 17.6
# docs/s, 16,384 16.7 and 65,536 16.2; peak memory 620 MB against 1,351 MB at 16,384.
CPU_BATCH_TOKENS = 4096


class QualityClassifier:
    def __init__(
        self,
        path: str | os.PathLike,
        spec: Manifest,
        variant: str = "int8",
        providers: list[str] | None = None,
        intra_op_num_threads: int | None = None,
        batch_tokens: int | None = None,
        chunking: str = "first",
        stride: int = 64,
        device: str = "cpu",
        engine: str | None = None,
        dtype: str | None = None,
    ):
        if chunking not in ("first", "mean", "max"):
            raise InputError(f"chunking must be first, mean or max: {chunking!r}")
        if device not in DEVICES:
            raise InputError(f"device must be one of {', '.join(DEVICES)}: {device!r}")
        self.path = Path(path)
        self.spec = spec
        self.variant = variant
        self.providers = providers
        self.intra_op_num_threads = intra_op_num_threads
        self.device = resolve_device(device)
        self.engine = engine or self.default_engine()
        if self.engine not in ENGINES:
            raise InputError(f"engine must be one of {', '.join(ENGINES)}: {engine!r}")
        if self.engine == "torch" and not self.has_torch_copy:
            raise BundleError(f"{self.path}: no torch copy (torch/); re-export with this curate")
        self.dtype = dtype or ("float16" if self.device == "cuda" else "float32")
        self.batch_tokens = batch_tokens or (
            GPU_BATCH_TOKENS if self.device == "cuda" else CPU_BATCH_TOKENS
        )
        self.chunking = chunking
        self.stride = stride
        self._session = None
        self._torch = None
        self._tokenizer = None
        self._fluency: dict[str, WordBigramLM] = {}
        self._lexical: dict[str, LexicalModel] = {}
        self._side: dict[str, SideModels] = {}
        self._cascade: dict[str, Cascade | None] = {}
        self._vectors: TextVectors | None = None

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load(
        cls, path: str | os.PathLike, variant: str = "int8", verify: bool = True, **kwargs: Any
    ) -> QualityClassifier:
        """Open a bundle. `variant` is "int8" (model.int8.onnx) or "fp32" (model.onnx).
        With `verify`, every file's sha256 is checked against classifier.json."""
        path = Path(path)
        spec = read_manifest(path)
        if variant not in ("int8", "fp32"):
            raise InputError(f"variant must be int8 or fp32: {variant!r}")
        clf = cls(path, spec, variant, **kwargs)
        if verify:
            clf.verify()
        return clf

    def verify(self) -> None:
        verify_files(self.path, self.spec)

    @property
    def model_file(self) -> Path:
        # onnxruntime's CUDA provider has no kernels for dynamic int8: the GPU runs fp32
        int8 = self.variant == "int8" and self.device == "cpu"
        return self.path / ("model.int8.onnx" if int8 else "model.onnx")

    @property
    def session(self):
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            if self.intra_op_num_threads:
                opts.intra_op_num_threads = self.intra_op_num_threads
            wanted = ["CUDAExecutionProvider"] if self.device == "cuda" else []
            providers = self.providers or [
                p for p in (*wanted, "CPUExecutionProvider") if p in ort.get_available_providers()
            ]
            self._session = ort.InferenceSession(str(self.model_file), opts, providers=providers)
        return self._session

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tok.no_padding()
            # overlap between windows; at most half a window (the limit tokenizers enforces)
            stride = min(self.stride, (self.max_length - 2) // 2) if self.chunking != "first" else 0
            tok.enable_truncation(self.max_length, stride=stride)
            self._tokenizer = tok
        return self._tokenizer

    def __getstate__(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "_session": None,
            "_tokenizer": None,
            "_fluency": {},
            "_lexical": {},
            "_side": {},
            "_cascade": {},
            "_torch": None,
            "_vectors": None,
        }

    @property
    def has_torch_copy(self) -> bool:
        return all((self.path / f).exists() for f in TORCH_FILES)

    def default_engine(self) -> str:
        """On a GPU the bundle's torch copy where it has one; onnxruntime everywhere else."""
        return "torch" if self.device == "cuda" and self.has_torch_copy else "onnxruntime"

    @property
    def torch_encoder(self):
        if self._torch is None:
            from curate.classify.torch_encoder import TorchEncoder

            self._torch = TorchEncoder(self.path, self.device, self.dtype, self.spec.head)
        return self._torch

    # --- properties of the bundle ----------------------------------------------------------

    @property
    def tasks(self) -> list[str]:
        """The bundle's tasks, in the order of its model's outputs."""
        return self.spec.task_names

    def task_spec(self, task: str | None = None) -> TaskSpec:
        """One task's part of the manifest; `task` may be left out when there is only one."""
        return self.spec.task(task)

    @property
    def task(self) -> str:
        return self.task_spec().task

    @property
    def threshold(self) -> float:
        return float(self.task_spec().threshold)

    @property
    def max_length(self) -> int:
        return self.spec.max_length

    def scale_of(self, task: str | None = None) -> tuple[int, int]:
        return self.task_spec(task).scale

    @property
    def scale(self) -> tuple[int, int]:
        return self.scale_of()

    # --- scoring ---------------------------------------------------------------------------

    def scores(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Every task's float scores on its label scale, in input order, from one encoder pass
        (`adjust`). Empty or whitespace-only texts score the bottom of the scale without
        running the model."""
        return {task: scores for task, (scores, _) in self.scores_and_raw(texts).items()}

    def scores_and_raw(
        self, texts: list[str], parts: dict[str, SideParts] | None = None
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every task's (score on the label scale, raw score) from one encoder pass: the raw
        score is the encoder's, blended with the task's lexical model and lowered by its
        fluency penalty where it has them; the label-scale map (bundles from before it: none)
        turns it into the score. `parts` ({task: the side models' parts of these texts}, as
        the cascade computed them) are used instead of computing them again."""
        texts = list(texts)
        encoder = self.encoder_scores(texts)
        live = np.array([bool(t and t.strip()) for t in texts], dtype=bool)
        live_texts = [t for t in texts if t and t.strip()]
        out = {}
        for column, task in enumerate(self.tasks):
            side = self.side_models(task)
            raw = encoder[:, column].copy()
            given = (parts or {}).get(task)
            mine = side.parts(live_texts) if given is None else given.select(live)
            raw[live] = side.combine(raw[live], mine)
            scores = raw.copy()
            scores[live] = side.calibrate(raw[live])
            out[task] = (scores, raw)
        return out

    def text_vectors(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors of the texts from the encoder's embedding layer (for semantic
        dedup; curate.classify.text_vectors): no encoder pass. Needs the bundle's torch copy."""
        if self._vectors is None:
            self._vectors = TextVectors(self.path, self.tokenizer, self.max_length)
        return self._vectors(list(texts))

    def adjust(self, encoder: np.ndarray, texts: list[str], task: str | None = None) -> np.ndarray:
        """A task's score from its encoder score: blended with its lexical model, lowered by its
        fluency penalty, mapped onto the label scale, where the task has them
        (curate.classify.side)."""
        return self.side_models(task).adjust(encoder, texts)

    def cascade(self, task: str | None = None) -> Cascade | None:
        """The task's fitted cascade (curate.classify.cascade), None where it has none."""
        spec = self.task_spec(task)
        if spec.task not in self._cascade:
            self._cascade[spec.task] = Cascade.from_dict(spec.cascade)
        return self._cascade[spec.task]

    def side_models(self, task: str | None = None) -> SideModels:
        spec = self.task_spec(task)
        if spec.task not in self._side:
            self._side[spec.task] = self.load_side_models(spec)
        return self._side[spec.task]

    def load_side_models(self, spec: TaskSpec) -> SideModels:
        side = SideModels()
        if fluency := spec.fluency:
            params = FluencyParams(**{k: v for k, v in fluency.items() if k != "file"})
            side.fluency = (self.fluency_model(fluency["file"]), params)
        if lexical := spec.lexical:
            side.lexical, side.weight = self.lexical_model(lexical["file"]), lexical["weight"]
        if spec.label_scale:
            side.label_scale = LabelScale.from_dict(spec.label_scale, spec.scale)
        return side

    def score(self, texts: list[str], task: str | None = None) -> np.ndarray:
        """One task's scores (see `scores`)."""
        return self.scores(texts)[self.task_spec(task).task]

    def fluency_penalty(self, texts: list[str], task: str | None = None) -> np.ndarray:
        """0 for every text unless the task has a fluency model (curate.classify.fluency)."""
        fluency = self.side_models(task).fluency
        if fluency is None:
            return np.zeros(len(texts), dtype=np.float32)
        return fluency_penalty(*fluency, texts)

    def fluency_model(self, file: str) -> WordBigramLM:
        if file not in self._fluency:
            self._fluency[file] = WordBigramLM.load(self.path / file)
        return self._fluency[file]

    def lexical_model(self, file: str) -> LexicalModel:
        if file not in self._lexical:
            self._lexical[file] = LexicalModel.load(self.path / file)
        return self._lexical[file]

    def encoder_score(self, texts: list[str], task: str | None = None) -> np.ndarray:
        """One task's encoder scores alone (no lexical blend, no fluency penalty)."""
        column = self.tasks.index(self.task_spec(task).task)
        return self.encoder_scores(texts)[:, column]

    def encoder_scores(self, texts: list[str]) -> np.ndarray:
        """The encoder's scores alone, one column per task: (len(texts), len(tasks))."""
        texts = list(texts)
        bottom = [float(self.scale_of(t)[0]) for t in self.tasks]
        scores = np.tile(np.array(bottom, dtype=np.float32), (len(texts), 1))
        live = [i for i, t in enumerate(texts) if t and t.strip()]
        if not live:
            return scores
        cut = None if self.chunking != "first" else self.max_length * CHARS_PER_TOKEN_CAP
        encodings = self.tokenizer.encode_batch([texts[i][:cut] for i in live])
        windows, owner = [], []
        for pos, enc in enumerate(encodings):
            parts = [enc] + (list(enc.overflowing) if self.chunking != "first" else [])
            windows.extend(parts)
            owner.extend([pos] * len(parts))
        window_scores = self._run(windows)
        per_doc = self._aggregate(window_scores, np.asarray(owner), len(live))
        scores[live] = per_doc
        return scores

    def int_scores(self, texts: list[str], task: str | None = None) -> np.ndarray:
        lo, hi = self.scale_of(task)
        return np.clip(np.rint(self.score(texts, task)), lo, hi).astype(int)

    def threshold_for(self, lang: str | None, task: str | None = None) -> float:
        """The keep threshold for a document in `lang`: calibrated per language where the
        task has one (`thresholds_by_language`), else the task's single threshold."""
        by_language = self.task_spec(task).language_thresholds()
        return by_language.get(lang, by_language[None])

    def keep(
        self, texts: list[str], langs: list[str | None] | None = None, task: str | None = None
    ) -> np.ndarray:
        """score >= threshold; with `langs`, each document's own language's threshold."""
        scores = self.score(texts, task)
        langs = [None] * len(scores) if langs is None else langs
        return scores >= np.array([self.threshold_for(lang, task) for lang in langs])

    def _aggregate(self, window_scores: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
        if self.chunking == "max":
            out = np.full((n, window_scores.shape[1]), -np.inf, dtype=np.float32)
            np.maximum.at(out, owner, window_scores)
            return out
        counts = np.bincount(owner, minlength=n)[:, None]
        sums = np.zeros((n, window_scores.shape[1]))
        np.add.at(sums, owner, window_scores)
        return (sums / counts).astype(np.float32)

    def _run(self, encodings) -> np.ndarray:
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(encodings), len(self.tasks)), dtype=np.float32)
        for batch in self._batches(order, lengths):
            out[batch] = self._run_batch([encodings[i] for i in batch])
        return out

    def _batches(self, order: np.ndarray, lengths: np.ndarray):
        """Consecutive runs of the length-sorted order whose padded size fits the budget."""
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and lengths[order[end]] * (end + 1 - start) <= self.batch_tokens:
                end += 1
            yield order[start:end]
            start = end

    def _run_batch(self, encodings) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feed = {k: v for k, v in feed.items() if k in self.spec.inputs}
        if self.engine == "torch":
            scores = self.torch_encoder(feed)
        else:
            scores = self.session.run(["score"], feed)[0]
        return scores.reshape(len(encodings), -1)


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" where torch sees a GPU, else "cpu"; "cuda" without a GPU is an error."""
    if device == "cpu":
        return "cpu"
    import onnxruntime as ort

    from curate.classify.torch_encoder import cuda_available

    if cuda_available() or "CUDAExecutionProvider" in ort.get_available_providers():
        return "cuda"
    if device == "cuda":
        raise InputError(
            "device cuda: no CUDA GPU visible to torch or onnxruntime (install "
            "'curate[train]' or onnxruntime-gpu on a GPU machine); use device cpu or auto"
        )
    return "cpu"
