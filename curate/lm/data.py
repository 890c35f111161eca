"""Continued-pretraining data: tokenize a corpus once into a cached token stream, pack it into
fixed-length blocks, and serve them to Lightning in a seeded order that a resume can continue.

Each document becomes BOS + text + EOS; the stream is cut into `block_size` blocks. Inside a
block every document segment gets position_ids that restart at 0: with attention_mask=None and
use_cache=False, transformers then keeps the documents of a block from attending to each other.
A document longer than a block continues in the next block as a new segment (counted, never
dropped). BOS is never a target; EOS is."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from curate.atomic import atomic_path, write_atomic
from curate.documents import ReadReport, list_input_files, read_documents
from curate.errors import CurateError

log = logging.getLogger(__name__)
CACHE_VERSION = "1"


class EmptyCorpusError(CurateError, ValueError):
    pass


@dataclass
class TokenStream:
    tokens: np.ndarray  # int32, every document as BOS + text + EOS, concatenated
    documents: int
    bad_rows: int


def cache_key(files: list[Path], tokenizer) -> str:
    digest = hashlib.sha256(CACHE_VERSION.encode())
    for f in files:
        stat = f.stat()
        digest.update(f"{f.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
    digest.update(vocab.encode())
    digest.update(f"{tokenizer.bos_token_id}|{tokenizer.eos_token_id}".encode())
    return digest.hexdigest()[:16]


def tokenize_corpus(paths: list[str | Path], tokenizer, cache_dir: Path) -> TokenStream:
    """The corpus as one token stream, from the cache when the files and tokenizer match."""
    files = list_input_files(paths)
    if not files:
        raise EmptyCorpusError(f"no input files under {[str(p) for p in paths]}")
    path = cache_dir / f"tokens-{cache_key(files, tokenizer)}.npy"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        log.info("token cache hit: %s", path)
        return TokenStream(np.load(path, mmap_mode="r"), meta["documents"], meta["bad_rows"])
    report = ReadReport()
    chunks, documents = [], 0
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    batch: list[str] = []
    for doc in read_documents(files, report=report):
        batch.append(doc.text)
        if len(batch) == 256:
            documents += _encode(batch, tokenizer, bos, eos, chunks)
            batch = []
    documents += _encode(batch, tokenizer, bos, eos, chunks)
    if not documents:
        raise EmptyCorpusError(
            f"no usable documents in {[str(f) for f in files]} ({report.bad_count} bad rows)"
        )
    tokens = np.concatenate(chunks).astype(np.int32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, tokens)
    write_atomic(meta_path, json.dumps({"documents": documents, "bad_rows": report.bad_count}))
    log.info("tokenized %d documents (%d tokens) into %s", documents, len(tokens), path)
    return TokenStream(tokens, documents, report.bad_count)


def _encode(texts: list[str], tokenizer, bos: int, eos: int, chunks: list) -> int:
    if not texts:
        return 0
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        chunks.append(np.asarray([bos, *ids, eos], dtype=np.int32))
    return len(texts)


def pack(tokens: np.ndarray, block_size: int, bos: int, eos: int) -> dict[str, torch.Tensor]:
    """Cut the stream into blocks: input_ids, position_ids (restarting per segment), labels
    (-100 on BOS and on the padding of the last block). Segments start at each BOS and at the
    start of every block."""
    n_blocks = -(-len(tokens) // block_size)
    padded = np.full(n_blocks * block_size, eos, dtype=np.int64)
    padded[: len(tokens)] = tokens
    ids = padded.reshape(n_blocks, block_size)
    starts = ids == bos
    starts[:, 0] = True
    index = np.broadcast_to(np.arange(block_size), ids.shape)
    segment_start = np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    positions = index - segment_start
    labels = ids.copy()
    labels[ids == bos] = -100
    labels.reshape(-1)[len(tokens) :] = -100
    return {
        "input_ids": torch.from_numpy(ids),
        "position_ids": torch.from_numpy(np.ascontiguousarray(positions)),
        "labels": torch.from_numpy(labels),
    }


def split_documents(tokens: np.ndarray, block_size: int, bos: int) -> int:
    """How many documents run past a block boundary (continued in the next block)."""
    starts = np.flatnonzero(tokens == bos)
    ends = np.append(starts[1:], len(tokens)) - 1
    return int(np.sum(starts // block_size != ends // block_size))


class TensorDictDataset(Dataset):
    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors
        self.length = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class ResumableSampler(Sampler[int]):
    """A seeded permutation per epoch. The epoch a run resumes in starts `skip` samples in, so
    the run continues where the checkpoint left off instead of replaying the epoch's first
    batches; later epochs (Lightning calls `set_epoch`) start from the beginning. The length
    stays the full epoch's, so Lightning's batch counting of the resumed epoch stays right."""

    def __init__(self, length: int, seed: int, epoch: int = 0, skip: int = 0, shuffle: bool = True):
        self.length, self.seed, self.epoch, self.skip = length, seed, epoch, skip
        self.shuffle = shuffle

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.skip = epoch, 0

    def __iter__(self):
        if not self.shuffle:  # the order as given (a curriculum)
            return iter(range(self.skip, self.length))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist()[self.skip :])

    def __len__(self) -> int:
        return self.length


def resume_position(trainer: pl.Trainer | None, window: int) -> tuple[int, int]:
    """(epoch, samples already consumed in it) from the restored loop state."""
    if trainer is None:
        return 0, 0
    done = trainer.fit_loop.epoch_loop.batch_progress.current.ready
    return trainer.current_epoch, done * window


class WindowDataModule(pl.LightningDataModule):
    """Base for the three stages: a train and a val dataset, served in windows of
    batch_size x accumulate_grad_batches samples (the module splits a window into
    micro-batches and normalises the loss by the window's target tokens)."""

    def __init__(
        self, batch_size: int, accumulate: int, seed: int, workers: int = 0, shuffle: bool = True
    ):
        super().__init__()
        self.batch_size, self.accumulate, self.shuffle = batch_size, accumulate, shuffle
        self.seed, self.workers = seed, workers
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    @property
    def window(self) -> int:
        return self.batch_size * self.accumulate

    def collate(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        return {k: torch.stack([r[k] for r in rows]) for k in rows[0]}

    def train_dataloader(self) -> DataLoader:
        epoch, skip = resume_position(self.trainer, self.window)
        sampler = ResumableSampler(len(self.train_set), self.seed, epoch, skip, self.shuffle)
        return DataLoader(
            self.train_set,
            batch_size=self.window,
            sampler=sampler,
            collate_fn=self.collate,
            num_workers=self.workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val_set, batch_size=self.window, shuffle=False, collate_fn=self.collate
        )

    def steps_per_epoch(self) -> int:
        return -(-len(self.train_set) // self.window)


class PackedDataModule(WindowDataModule):
    def __init__(
        self,
        paths: list[str | Path],
        tokenizer,
        block_size: int,
        cache_dir: Path,
        val_fraction: float = 0.05,
        **window,
    ):
        super().__init__(**window)
        self.paths, self.tokenizer, self.block_size = paths, tokenizer, block_size
        self.cache_dir, self.val_fraction = Path(cache_dir), val_fraction
        self.stats: dict[str, int] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        stream = tokenize_corpus(self.paths, self.tokenizer, self.cache_dir)
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        tokens = np.asarray(stream.tokens)
        blocks = pack(tokens, self.block_size, bos, eos)
        n = len(blocks["input_ids"])
        n_val = min(n - 1, max(1, round(n * self.val_fraction))) if n > 1 else 0
        self.train_set = TensorDictDataset({k: v[: n - n_val] for k, v in blocks.items()})
        self.val_set = TensorDictDataset({k: v[n - n_val :] for k, v in blocks.items()})
        self.stats = {
            "documents": stream.documents,
            "bad_rows": stream.bad_rows,
            "tokens": len(stream.tokens),
            "blocks": n,
            "val_blocks": n_val,
            "documents_split_across_blocks": split_documents(tokens, self.block_size, bos),
        }
        log.info("pretraining data: %s", self.stats)
