"""`curate mix`: a training mixture from several datasets, as Ahma-3B-Instruct mixed 23: per-
dataset upsampling, prompt dedup across datasets, a seeded eval split, optional ClusterClip
sampling and a length curriculum; one jsonl for training, one for eval, and a table (dataset,
type, upsampling, rows, words, share, average words per example, tokens) as markdown and json.

Order of work: read and check rows (bad ones counted per reason, never dropped silently), drop
rows whose prompt an earlier row (any dataset, config order) already has, split eval off (so no
eval row is ever trained on), upsample each dataset's train rows, then ClusterClip resamples the
pooled distinct train rows (upsampling then sets the mixture's size only) and the curriculum
orders them."""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.atomic import write_atomic
from curate.config import build, load
from curate.errors import InputError, MissingInput
from curate.lm.rows import get_text, read_rows, row_texts
from curate.posttrain.clusterclip import ClusterClipConfig, clusterclip, plot_cluster_sizes
from curate.posttrain.curriculum import CurriculumConfig, curriculum_order

log = logging.getLogger(__name__)


@dataclass
class DatasetConfig:
    name: str
    path: list[str] | str
    upsample: float = 1.0  # 2.8: every row twice, then 80% of the rows once more

    def __post_init__(self) -> None:
        paths = self.path if isinstance(self.path, list) else [self.path]
        if not paths or not all(isinstance(p, str) for p in paths):
            raise InputError(f"path must be a file or folder, or a list of them: {self.path!r}")
        if not isinstance(self.upsample, int | float) or self.upsample <= 0:
            raise InputError(f"upsample must be a positive number, got {self.upsample!r}")

    @property
    def paths(self) -> list[str]:
        return self.path if isinstance(self.path, list) else [self.path]


@dataclass
class MixConfig:
    output: str  # folder: train.jsonl, eval.jsonl, mix_table.md/json, cluster_sizes.png
    datasets: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0
    eval_fraction: float = 0.05
    dedup_prompts: bool = True
    tokenizer: str | None = None  # a model folder with tokenizer.json, for the tokens column
    clusterclip: ClusterClipConfig | None = None
    curriculum: CurriculumConfig | None = None

    source: str = "config"  # the file it came from, for error messages

    def __post_init__(self) -> None:
        if not 0 <= self.eval_fraction < 1:
            raise InputError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")

    @classmethod
    def load(cls, path: str | Path, sets=(), **overrides) -> MixConfig:
        return load(cls, path, sets, source=str(path), **overrides)

    def dataset_configs(self) -> list[DatasetConfig]:
        where = f"{self.source}: datasets"
        if not isinstance(self.datasets, list) or not self.datasets:
            raise InputError(f"{where}: a list of at least one {{name, path, upsample}}")
        configs = [build(DatasetConfig, d, f"{where}[{i}]") for i, d in enumerate(self.datasets)]
        names = Counter(c.name for c in configs)
        if max(names.values()) > 1:
            raise InputError(f"{where}: names repeat: {[n for n, k in names.items() if k > 1]}")
        return configs


@dataclass
class Item:
    dataset: str
    kind: str  # sft, dpo or text
    row: dict
    words: int
    tokens: int | None = None


def row_kind(row: Any) -> tuple[str, str] | str:
    """(kind, the text it is embedded and measured by), or why the row is unusable (checked
    as the LM stage checks it, curate.lm.rows)."""
    if isinstance(row, dict) and isinstance(row.get("text"), str) and "messages" not in row:
        return ("text", row["text"]) if row["text"].strip() else "empty text"
    found = row_texts(row)
    if isinstance(found, str):
        return found
    kind, paths = found
    return kind, "\n".join(get_text(row, path) for path in paths)


def prompt_key(item: Item) -> str | None:
    """The normalised prompt: the first user message (SFT), the prompt (DPO)."""
    row = item.row
    if item.kind == "sft":
        users = [m["content"] for m in row["messages"] if m.get("role") == "user"]
        prompt = users[0] if users else None
    elif item.kind == "dpo":
        prompt = row["prompt"]
        prompt = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
    else:
        return None
    return re.sub(r"\s+", " ", prompt).strip().lower() if prompt else None


def upsample(items: list[Item], factor: float, rng: np.random.Generator) -> list[Item]:
    """floor(factor) copies of every row, then round(fraction * n) rows once more, drawn
    without replacement."""
    whole, fraction = int(factor), factor - int(factor)
    extra = rng.choice(len(items), size=round(fraction * len(items)), replace=False)
    return items * whole + [items[i] for i in sorted(extra)]


@dataclass
class MixResult:
    train: list[Item]
    eval: list[Item]
    table: list[dict[str, Any]]
    skipped: dict[str, Counter]
    duplicates: Counter
    clusterclip: Any = None
    files: dict[str, str] = field(default_factory=dict)


def read_dataset(config: DatasetConfig, skipped: Counter) -> list[Item]:
    rows, report = read_rows(config.paths)
    skipped.update(report.bad_reasons)
    items = []
    for where, row in rows:
        found = row_kind(row)
        if isinstance(found, str):
            skipped[found] += 1
            log.warning("%s: skipped: %s", where, found)
            continue
        items.append(Item(config.name, found[0], row, len(found[1].split())))
    return items


def count_tokens(items: list[Item], tokenizer_dir: str | None) -> None:
    if tokenizer_dir is None:
        return
    from tokenizers import Tokenizer

    path = Path(tokenizer_dir) / "tokenizer.json"
    if not path.exists():
        raise MissingInput(f"tokenizer: no {path} (a model folder with tokenizer.json)")
    tokenizer = Tokenizer.from_file(str(path))
    texts = [row_kind(i.row)[1] for i in items]
    for item, encoding in zip(items, tokenizer.encode_batch(texts), strict=True):
        item.tokens = len(encoding.ids)


def dataset_rng(seed: int, name: str) -> np.random.Generator:
    """Each dataset's own seeded draws: adding or reordering datasets leaves every other
    dataset's eval split and upsampling as they were."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def mix(config: MixConfig) -> MixResult:
    datasets = config.dataset_configs()
    skipped = {d.name: Counter() for d in datasets}
    seen: set[str] = set()
    duplicates: Counter = Counter()
    train_by: dict[str, list[Item]] = {}
    train: list[Item] = []
    eval_items: list[Item] = []
    rows_in: dict[str, int] = {}
    for d in datasets:
        items = read_dataset(d, skipped[d.name])
        rows_in[d.name] = len(items)
        unique = []
        for item in items:
            key = prompt_key(item) if config.dedup_prompts else None
            if key is not None and key in seen:
                duplicates[d.name] += 1
                continue
            if key is not None:
                seen.add(key)
            unique.append(item)
        rng = dataset_rng(config.seed, d.name)
        order = rng.permutation(len(unique))
        n_eval = round(len(unique) * config.eval_fraction) if len(unique) > 1 else 0
        eval_items += [unique[i] for i in sorted(order[:n_eval])]
        train_by[d.name] = [unique[i] for i in sorted(order[n_eval:])]
        train += upsample(train_by[d.name], d.upsample, rng)
    if not train:
        raise InputError(f"no usable rows in any dataset: {dict(skipped)}")
    result = MixResult(train, eval_items, [], skipped, duplicates)
    if config.clusterclip is not None:
        result.clusterclip = resample(result, config.clusterclip)
    if config.curriculum is not None:
        order, _ = curriculum_order([i.words for i in result.train], config.curriculum)
        result.train = [result.train[i] for i in order]
    count_tokens(result.train, config.tokenizer)
    result.table = mix_table(datasets, result, rows_in, train_by)
    return result


def resample(result: MixResult, config: ClusterClipConfig):
    """ClusterClip over the distinct train rows; the mixture keeps its size (what upsampling
    gave), which rows fill it is ClusterClip's choice."""
    distinct = list({id(i): i for i in result.train}.values())
    drawn = clusterclip([row_kind(i.row)[1] for i in distinct], len(result.train), config)
    result.train = [distinct[i] for i in drawn.indices]
    return drawn


def mix_table(datasets, result: MixResult, rows_in, train_by) -> list[dict[str, Any]]:
    total_words = sum(i.words for i in result.train) or 1
    table = []
    for d in datasets:
        rows = [i for i in result.train if i.dataset == d.name]
        words = sum(i.words for i in rows)
        tokens = [i.tokens for i in rows]
        kinds = Counter(i.kind for i in train_by[d.name]) or Counter({"-": 1})
        table.append(
            {
                "dataset": d.name,
                "type": kinds.most_common(1)[0][0],
                "rows_in": rows_in[d.name],
                "duplicates_dropped": result.duplicates[d.name],
                "skipped": sum(result.skipped[d.name].values()),
                "eval_rows": sum(i.dataset == d.name for i in result.eval),
                "train_unique": len(train_by[d.name]),
                "upsampling": d.upsample,
                "train_rows": len(rows),
                "words": words,
                "share": words / total_words,
                "avg_words": words / len(rows) if rows else 0.0,
                "tokens": sum(tokens) if rows and None not in tokens else None,
            }
        )
    return table


TABLE_COLUMNS = [
    ("dataset", "dataset", "{}"),
    ("type", "type", "{}"),
    ("upsampling", "upsampling", "{:.2f}x"),
    ("rows in", "rows_in", "{:,}"),
    ("dup. prompts", "duplicates_dropped", "{:,}"),
    ("eval", "eval_rows", "{:,}"),
    ("train rows", "train_rows", "{:,}"),
    ("words", "words", "{:,}"),
    ("share", "share", "{:.1%}"),
    ("avg words/ex.", "avg_words", "{:.1f}"),
    ("tokens", "tokens", "{:,}"),
]


def table_markdown(table: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(c[0] for c in TABLE_COLUMNS) + " |"
    rule = "|" + "---|" * len(TABLE_COLUMNS)
    lines = [head, rule]
    for row in table:
        cells = ["-" if row[k] is None else fmt.format(row[k]) for _, k, fmt in TABLE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cluster_markdown(result) -> str:
    """ClusterClip's effect per cluster: rows it holds, draws it got."""
    lines = ["| cluster | rows | draws (ClusterClip) |", "|---|---|---|"]
    order = sorted(range(len(result.sizes_before)), key=lambda c: -result.sizes_before[c])
    for c in order:
        lines.append(f"| {c} | {result.sizes_before[c]:,} | {result.sizes_after[c]:,} |")
    return "\n".join(lines) + "\n"


def write_mix(result: MixResult, config: MixConfig) -> dict[str, str]:
    """train.jsonl (in training order), eval.jsonl, mix_table.md and .json, and with
    ClusterClip cluster_sizes.png; every file written whole or not at all."""
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)

    def lines(items: list[Item]) -> str:
        return "".join(json.dumps(i.row, ensure_ascii=False) + "\n" for i in items)

    write_atomic(out / "train.jsonl", lines(result.train))
    write_atomic(out / "eval.jsonl", lines(result.eval))
    markdown = table_markdown(result.table)
    if result.clusterclip is not None:
        markdown += "\n" + cluster_markdown(result.clusterclip)
    write_atomic(out / "mix_table.md", markdown)
    summary = {
        "table": result.table,
        "train_rows": len(result.train),
        "eval_rows": len(result.eval),
        "skipped": {k: dict(v) for k, v in result.skipped.items()},
        "ordered": config.curriculum is not None,
    }
    files = {n: str(out / n) for n in ("train.jsonl", "eval.jsonl", "mix_table.md")}
    if result.clusterclip is not None:
        cc = result.clusterclip
        summary["clusterclip"] = {
            "cluster_sizes_before": cc.sizes_before,
            "cluster_draws_after": cc.sizes_after,
            "exhausted_by_clip": cc.exhausted,
        }
        plot_cluster_sizes(cc, out / "cluster_sizes.png")
        files["cluster_sizes.png"] = str(out / "cluster_sizes.png")
    write_atomic(out / "mix_table.json", json.dumps(summary, indent=2) + "\n")
    files["mix_table.json"] = str(out / "mix_table.json")
    return files
