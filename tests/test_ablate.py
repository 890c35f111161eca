"""`curate ablate`: the task builders, the same token budget for every variant, the signal
checks, resume after kill -9, and a variant that fails while the others finish. The runs are real
(datatrove filter runs, Lightning pretraining of a tiny Llama from scratch) on a small stand-in
for ../shared written by tests/ablate_fixture.py; the builders are also checked on the real
reference corpus and web sample when ../shared is there."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from ablate_fixture import DA as DA_LINES
from ablate_fixture import NB as NB_LINES
from ablate_fixture import NN as NN_LINES
from ablate_fixture import SV as SV_LINES
from ablate_fixture import write_corpus, write_shared

from curate.ablate.config import AblationConfig
from curate.ablate.layout import AblationLayout, read_evals
from curate.ablate.signal import differences, task_signal
from curate.ablate.tasks import PAIR_BUILDERS, TasksConfig, build_tasks, load_held_out
from curate.config import ConfigError, apply_sets
from curate.reference import load_split
from curate.web import load_web_split

pytest.importorskip("pytorch_lightning")

TINY_MODEL = {"hidden_size": 32, "layers": 1, "heads": 2, "vocab_size": 400}
TINY_TRAINING = {"batch_size": 2, "max_length": 64, "learning_rate": 3.0e-3}  # 128 tokens a step


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return write_shared(tmp_path_factory.mktemp("shared"))


def tiny_tasks(shared) -> dict:
    reference, web = shared
    return {"reference": str(reference), "web": str(web), "pairs": 20, "perplexity_docs": 2,
            "perplexity_tokens": 32, "min_words": 4}  # fmt: skip


def write_config(tmp_path: Path, shared, variants: list[dict], **values) -> Path:
    config = {
        "name": "test",
        "output": str(tmp_path / "ablation"),
        "variants": variants,
        "budget_tokens": 1024,  # 8 steps of 128 tokens
        "seeds": [0, 1],
        "model": TINY_MODEL,
        "training": TINY_TRAINING,
        "eval_every": 4,
        "tasks": tiny_tasks(shared),
        **values,
    }
    path = tmp_path / "ablate.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def curate_cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from curate.cli import main; main()", *args]


# -- task builders ---------------------------------------------------------------------------


def test_pair_tasks_from_the_stand_in(shared):
    tasks = build_tasks(TasksConfig(**tiny_tasks(shared)))
    assert set(tasks.pairs) == set(PAIR_BUILDERS)
    assert all(tasks.pairs[name] for name in PAIR_BUILDERS), {
        k: len(v) for k, v in tasks.pairs.items()
    }
    for item in tasks.pairs["word_order"]:
        assert item["good"] != item["bad"]
        assert Counter(item["good"].split()) == Counter(item["bad"].split())
    for item in tasks.pairs["nb_nn_form"]:  # after a Bokmål line the Bokmål next line wins
        lang = item["id"].rsplit("/", 1)[-1].split("#")[0]
        i = int(item["id"].rsplit("#", 1)[-1])
        same, other = (
            {"nb": NB_LINES, "nn": NN_LINES}[x] for x in (lang, "nn" if lang == "nb" else "nb")
        )
        assert (item["prefix"], item["good"], item["bad"]) == (same[i], same[i + 1], other[i + 1])
    wrong = {item["bad"] for item in tasks.pairs["language"]}
    assert (
        wrong <= set(SV_LINES) | set(DA_LINES) and wrong & set(SV_LINES) and wrong & set(DA_LINES)
    )
    for item in tasks.pairs["continuation"]:
        assert item["good"] != item["bad"] and item["prefix"]
    for item in tasks.pairs["ocr"]:
        assert item["good"] != item["bad"]
    assert {"ref:law", "ref:news", "ref:news_translated", "web:nb", "web:nn", "web:fine"} <= set(
        tasks.perplexity
    )


def real_shared() -> tuple[Path, Path]:
    root = Path(__file__).resolve().parents[1].parent / "shared"
    if not (root / "reference").is_dir() or not (root / "web").is_dir():
        pytest.skip(f"no real reference corpus and web sample at {root} (../shared)")
    return root / "reference", root / "web"


def test_tasks_on_real_text_are_held_out():
    reference, web = real_shared()
    config = TasksConfig(reference=str(reference), web=str(web))
    held = load_held_out(config)
    split = {**load_split(), **load_web_split()}
    assert {split[d.id] for d in held.prose + held.web} == {"test"}
    tasks = build_tasks(config)
    assert all(len(items) == config.pairs for items in tasks.pairs.values())
    for item in tasks.pairs["nb_nn_form"] + tasks.pairs["language"]:
        assert item["id"].split("/")[1] in {d.id.rsplit("/", 1)[-1] for d in held.prose}
    genres = {d for d in tasks.perplexity if d.startswith("ref:")}
    assert {"ref:law", "ref:news", "ref:wikipedia", "ref:spoken", "ref:news_translated"} == genres


# -- config ----------------------------------------------------------------------------------


def test_set_reaches_into_a_list_by_position():
    spec = {"steps": [{"a": {}}, {"score_filter": {"bundles": ["x"]}}]}
    apply_sets(spec, ["steps.2.score_filter.thresholds={educational_value: 2.3}"])
    assert spec["steps"][1]["score_filter"]["thresholds"] == {"educational_value": 2.3}
    with pytest.raises(ConfigError, match="position 1..2"):
        apply_sets(spec, ["steps.3.score_filter.thresholds=1"])


def test_a_budget_below_one_step_is_refused(tmp_path, shared):
    path = write_config(tmp_path, shared, [{"name": "a", "documents": ["x"]}], budget_tokens=100)
    with pytest.raises(ConfigError, match="less than one optimizer step"):
        AblationConfig.load(path)


def test_the_budget_counts_every_device_and_checkpoints_need_a_step(tmp_path, shared):
    path = write_config(tmp_path, shared, [{"name": "a", "documents": ["x"]}])
    assert AblationConfig.load(path, ["training.devices=2"]).steps == 4  # 2 x 128 tokens a step
    with pytest.raises(ConfigError, match="training.devices"):
        AblationConfig.load(path, ["training.devices=auto"])
    with pytest.raises(ConfigError, match="eval_every"):
        AblationConfig.load(path, ["eval_every=0"])


# -- signal checks ---------------------------------------------------------------------------


def runs_of(curves: dict[str, list[list[float]]], task: str) -> dict:
    """variant -> seed -> checkpoints, from per-seed score lists over steps 0, 1, 2, ..."""
    return {
        variant: {
            seed: [{"step": s, "scores": {task: v}} for s, v in enumerate(values)]
            for seed, values in enumerate(seeds)
        }
        for variant, seeds in curves.items()
    }


def test_signal_checks_and_noise():
    rising = runs_of(
        {"base": [[0.5, 0.6, 0.70], [0.5, 0.62, 0.71], [0.5, 0.61, 0.69]],
         "better": [[0.5, 0.7, 0.80], [0.5, 0.72, 0.82], [0.5, 0.69, 0.81]],
         "same": [[0.5, 0.6, 0.72], [0.5, 0.6, 0.68], [0.5, 0.6, 0.70]]},
        "pairs/x",
    )  # fmt: skip
    found = task_signal(rising, "pairs/x", chance=0.5, items=200)
    assert found.signal and found.above_chance and found.monotonicity == pytest.approx(1.0)
    assert found.ratio > 1
    verdicts = {
        d.variant: (d.direction, d.beyond_noise) for d in differences(rising, "pairs/x", "base")
    }
    assert verdicts == {"better": ("better", True), "same": ("same", False)}

    steady = runs_of({"a": [[0.5, 0.6, 0.7, 0.8]], "b": [[0.5, 0.62, 0.72, 0.82]],
                      "c": [[0.5, 0.64, 0.74, 0.84]]}, "pairs/z")  # fmt: skip
    assert task_signal(steady, "pairs/z", 0.5, 200).ranking == pytest.approx(1.0)
    swapping = runs_of({"a": [[0.5, 0.6, 0.8, 0.6]], "b": [[0.5, 0.7, 0.7, 0.7]],
                        "c": [[0.5, 0.8, 0.6, 0.8]]}, "pairs/z")  # fmt: skip
    assert task_signal(swapping, "pairs/z", 0.5, 200).ranking == pytest.approx(-1.0)

    flat = runs_of({"base": [[0.5, 0.52, 0.49], [0.5, 0.48, 0.51]]}, "pairs/y")
    assert task_signal(flat, "pairs/y", 0.5, 200).flags == ["not above chance", "not monotonic"]

    ppl = runs_of({"base": [[900, 300, 200]], "less": [[900, 400, 250]]}, "ppl/web:nb")
    found = task_signal(ppl, "ppl/web:nb", chance=1000, items=None)
    assert found.signal and found.monotonicity == pytest.approx(1.0)  # falling perplexity
    (diff,) = differences(ppl, "ppl/web:nb", "base")
    assert not diff.better and diff.beyond_noise is None  # one seed: nothing to judge noise by


# -- runs ------------------------------------------------------------------------------------


def test_equal_token_budget_and_a_failing_variant(tmp_path, shared):
    big = write_corpus(tmp_path / "big" / "docs.jsonl", copies=12, prefix="big")
    small = write_corpus(tmp_path / "small" / "docs.jsonl", copies=1, prefix="small")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "input": {"path": str(big.parent)},
                "steps": [{"fix_encoding": {}}, {"clean_lines": {}}],
                "output": {"path": str(tmp_path / "unused")},
                "executor": {"local": {"tasks": 1, "workers": 1}},
            }
        )
    )
    variants = [
        {"name": "big", "documents": [str(big.parent)]},
        {"name": "small", "documents": [str(small.parent)]},
        {"name": "filtered", "first_steps": 1},
        {"name": "filtered_again", "first_steps": 1},  # the same run identity: one filter run
        {"name": "typo", "set": {"steps.1": {"fix_encodings": {}}}},
        {"name": "too_many", "first_steps": 3},
    ]
    path = write_config(tmp_path, shared, variants, spec=str(spec))
    done = subprocess.run(curate_cli("ablate", str(path)), capture_output=True, text=True)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "variant typo failed at filter" in done.stdout

    layout = AblationLayout(tmp_path / "ablation")
    results = json.loads(layout.results.read_text())
    config = AblationConfig.load(path)
    assert results["trained_tokens"] == config.trained_tokens == 1024
    for variant in ("big", "small", "filtered", "filtered_again"):
        for seed in (0, 1):
            summary = json.loads((layout.run(variant, seed) / "summary.json").read_text())
            assert summary["fit_tokens"] == config.trained_tokens, (variant, seed)
            assert summary["steps"] == config.steps == 8
            assert [r["step"] for r in read_evals(layout.evals(variant, seed))] == [0, 4, 8]
    samples = {v: results["variants"][v]["samples"]["0"] for v in ("big", "small")}
    assert not samples["big"]["with_replacement"] and samples["small"]["with_replacement"]
    assert samples["small"]["drawn_tokens"] > samples["small"]["tokens"]
    # filtered and filtered_again share one run; the typo is refused before a folder is made
    assert len(list((layout.root / "filter").iterdir())) == 1
    assert results["variants"]["typo"]["failed"]["step"] == "filter"
    assert "unknown step 'fix_encodings'" in results["variants"]["typo"]["failed"]["error"]
    assert "first_steps 3, but" in results["variants"]["too_many"]["failed"]["error"]
    table = layout.table.read_text()
    assert "with replacement: each token x" in table and "failed at filter" in table
    differences_table = table.split("## Differences from big")[1]
    verdicts = re.findall(r"\((better|worse|same), (beyond noise|noise)\)", differences_table)
    assert len(verdicts) == 3 * len(json.loads(layout.results.read_text())["signals"])
    assert layout.report.exists() and list(layout.curves.glob("*.png"))


def test_a_killed_ablation_resumes(tmp_path, shared):
    corpus = write_corpus(tmp_path / "docs" / "docs.jsonl", copies=20, prefix="d")
    path = write_config(
        tmp_path,
        shared,
        [{"name": "only", "documents": [str(corpus.parent)]}],
        budget_tokens=128 * 40,
        seeds=[0],
        eval_every=2,
    )
    layout = AblationLayout(tmp_path / "ablation")
    evals = layout.evals("only", 0)
    proc = subprocess.Popen(curate_cli("ablate", str(path)), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not any(r["step"] >= 6 for r in read_evals(evals)):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(r["step"] for r in read_evals(evals))
    assert 6 <= killed_at < 40, "the run was not killed part-way"
    assert not (layout.run("only", 0) / "summary.json").exists()

    done = subprocess.run(curate_cli("ablate", str(path)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((layout.run("only", 0) / "summary.json").read_text())
    assert summary["resumed_from"] and summary["steps"] == 40
    steps = [r["step"] for r in read_evals(evals)]
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 40
    assert set(range(0, 41, 2)) == set(steps)  # every checkpoint scored once

    again = subprocess.run(curate_cli("ablate", str(path)), capture_output=True, text=True)
    assert again.returncode == 0
    assert json.loads((layout.run("only", 0) / "summary.json").read_text()) == summary


def test_a_changed_budget_is_refused(tmp_path, shared):
    corpus = write_corpus(tmp_path / "docs" / "docs.jsonl", copies=4, prefix="d")
    path = write_config(tmp_path, shared, [{"name": "a", "documents": [str(corpus.parent)]}],
                        budget_tokens=256, seeds=[0], eval_every=2)  # fmt: skip
    from curate.ablate.runner import AblationChanged, run_ablation

    run_ablation(AblationConfig.load(path))
    with pytest.raises(AblationChanged, match="budget_tokens"):
        run_ablation(AblationConfig.load(path, ["budget_tokens=512"]))

    # the same variant name on other documents: its sample is drawn and trained again
    layout = AblationLayout(tmp_path / "ablation")
    other = write_corpus(tmp_path / "other" / "docs.jsonl", copies=4, prefix="o")
    run_ablation(AblationConfig.load(path, [f"variants.1.documents=[{other.parent}]"]))
    results = json.loads(layout.results.read_text())
    assert results["variants"]["a"]["samples"]["0"]["sources"] == [str(other.parent)]
    drawn = [json.loads(line)["id"] for line in layout.sample("a", 0).read_text().splitlines()]
    assert drawn and all(i.startswith("o") for i in drawn)
    assert [r["step"] for r in read_evals(layout.evals("a", 0))] == [0, 2]


def test_lm_eval_harness_task(tmp_path, tiny_lm):
    """A small local lm-evaluation-harness task (a YAML and a jsonl written here) scored on a
    model in memory, as `tasks.lm_eval` runs it at each checkpoint."""
    pytest.importorskip("lm_eval")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curate.ablate.harness import harness_scores

    rng = random.Random(0)
    rows = []
    for i in range(12):
        words = NB_LINES[i % len(NB_LINES)].split()
        shuffled = words[:]
        rng.shuffle(shuffled)
        rows.append({"good": " ".join(words), "bad": " ".join(shuffled), "label": 0})
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "nb_word_order.yaml").write_text(
        yaml.safe_dump(
            {
                "task": "nb_word_order",
                "dataset_path": "json",
                "dataset_kwargs": {"data_files": {"test": str(data)}},
                "test_split": "test",
                "output_type": "multiple_choice",
                "doc_to_text": "",
                "doc_to_choice": "{{[good, bad]}}",
                "doc_to_target": "label",
                "metric_list": [{"metric": "acc"}],
            }
        )
    )
    config = TasksConfig(lm_eval=["nb_word_order"], lm_eval_include=str(tmp_path / "tasks"))
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    scores = harness_scores(model, tokenizer, config, batch_size=4)
    assert set(scores) == {"lm_eval/nb_word_order"}
    assert 0.0 <= scores["lm_eval/nb_word_order"] <= 1.0
    assert scores["lm_eval/nb_word_order"] * 12 == pytest.approx(
        round(scores["lm_eval/nb_word_order"] * 12)
    )
