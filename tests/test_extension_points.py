"""Adding a task, a backend, a filter step, an executor, a damage family or a source schema: each
is one or two code places, and each is seen everywhere it must be (issues #26, #37). Every test
adds a toy one and checks it is wired through the real commands."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datatrove.pipeline.filters.base_filter import BaseFilter

from curate.annotate import backends
from curate.annotate.backends import BACKENDS, Answer, make_backend
from curate.annotate.config import backend_names, default_config_path, load_config
from curate.degrade import FAMILIES
from curate.documents import Document, read_documents, write_documents
from curate.pipeline import SpecError
from curate.pipeline import build as pipeline_build
from curate.pipeline.dedup import ExactDedup
from curate.sources import SOURCE_SCHEMAS, Schema, detect_schema
from curate.tasks import get_task, registry, task_names

TOY_TASK = {
    "task": "toxicity",
    "title": "Toxicity",
    "version": 1,
    "scale": [0, 3],
    "clean_score": 0,
    "damage_scores": {f: (3 if f == "spam" else None) for f in FAMILIES},
    "stand_in": "surface_quality",
    "templates": {"nb": "Vurder hvor giftig teksten er.\n<dokument>\n{document}\n</dokument>\n"},
}


@pytest.fixture
def toy_task(tmp_path, monkeypatch):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "toxicity.yaml").write_text(yaml.safe_dump(TOY_TASK, allow_unicode=True))
    monkeypatch.setenv("CURATE_TASKS", str(folder))
    return folder


def curate(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "curate.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def docs(n=8):
    return [
        Document(
            id=f"d{i}",
            lang="nb",
            source="t",
            text=f"Dette er dokument nummer {i}. Fjorden er dyp og smal. Bygda ligger innerst.",
        )
        for i in range(n)
    ]


# --- a task: one file (plus a classifier config to train it) -------------------------------


def test_every_shipped_task_names_a_stand_in_and_scores_every_damage_family():
    from curate.annotate.fake_server import STAND_INS
    from curate.tasks import STAND_INS as STAND_IN_NAMES

    assert set(STAND_INS) == set(STAND_IN_NAMES)
    for task in registry().values():
        assert task.stand_in in STAND_INS, task.path
        assert set(task.damage_scores) == set(FAMILIES), task.path


def test_a_task_file_is_seen_by_the_cli_annotate_synthesize_and_the_fake_labeller(
    toy_task, tmp_path, repo_root
):
    assert "toxicity" in task_names() and get_task("toxicity").scale == (0, 3)
    env = {"CURATE_TASKS": str(toy_task)}
    for command in ("annotate", "agreement", "synthesize"):
        shown = curate(command, "--help", env=env)
        assert "toxicity" in shown.stdout, (command, shown.stdout)
    corpus = tmp_path / "corpus.jsonl.gz"
    write_documents(docs(), corpus)
    out = tmp_path / "labels"
    run = curate(
        "annotate", corpus, "--task", "toxicity", "--fake-llm", "-o", out, env=env, cwd=repo_root
    )
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in (out / "toxicity.jsonl").read_text().splitlines()]
    assert len(records) == 8 and all(r["task"] == "toxicity" for r in records)
    assert all(0 <= r["score"] <= 3 and "toxicity" in r["rationale"] for r in records)
    # --task all takes every task, the toy one included
    every = curate("annotate", corpus, "--fake-llm", "-o", tmp_path / "all", env=env, cwd=repo_root)
    assert every.returncode == 0, every.stderr
    written = {p.name for p in (tmp_path / "all").glob("*.jsonl")}
    assert {f"{t}.jsonl" for t in task_names()} <= written

    synthetic = tmp_path / "synthetic"
    made = curate(
        "synthesize", corpus, "--task", "toxicity", "--family", "spam", "--family", "mojibake",
        "--copies", "2", "-o", synthetic, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    labels = [json.loads(line) for line in (synthetic / "toxicity.jsonl").read_text().splitlines()]
    # spam scores 3 on this scale, mojibake says nothing (null), clean text scores 0
    assert sorted({(r["rationale"], r["score"]) for r in labels}) == [
        ("clean source text", 0),
        ("damage: spam", 3),
    ]


def test_a_classifier_config_takes_its_scale_from_the_task_file(toy_task, tmp_path):
    from curate.classify.config import load_classifier_config
    from curate.config import ConfigError

    config = tmp_path / "toxicity.yaml"
    config.write_text(yaml.safe_dump({"task": "toxicity", "base_model": "x"}))
    assert load_classifier_config(config).scale == (0, 3)
    config.write_text(yaml.safe_dump({"task": "toxicity", "base_model": "x", "scale": [0, 5]}))
    with pytest.raises(ConfigError, match="differs from task 'toxicity'"):
        load_classifier_config(config)
    config.write_text(yaml.safe_dump({"task": "register", "base_model": "x"}))
    with pytest.raises(ConfigError, match="give its `scale`"):
        load_classifier_config(config)


def test_the_report_draws_every_task_the_documents_were_scored_on(toy_task, tmp_path):
    from curate.pipeline.report import write_report

    kept = tmp_path / "run" / "kept"
    kept.mkdir(parents=True)
    rows = [
        {
            "id": f"d{i}",
            "text": "Tekst.",
            "metadata": {"toxicity": i / 4, "toxicity_threshold": 1.0},
        }
        for i in range(8)
    ]
    with gzip.open(kept / "00000.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    page = write_report(tmp_path / "run").read_text()
    assert "<h2>toxicity scores</h2>" in page


# --- a backend: a class in BACKENDS plus its default config -------------------------------


def test_every_backend_has_a_default_config_and_every_config_a_backend():
    assert set(BACKENDS) == set(backend_names())
    for name in BACKENDS:
        assert load_config(default_config_path(name)).backend == name


class ToyBackend:
    """Answers every prompt with score 2; a prompt with 'VETO' is withheld in its own words."""

    name = "toy"

    def __init__(self, config):
        self.config = config

    async def generate(self, prompt: str) -> Answer:
        if "VETO" in prompt:
            return Answer(text=None, finish_reason="vetoed", blocked=True, input_tokens=5)
        return Answer(text='{"score": 2, "rationale": "toy"}', finish_reason="done", input_tokens=5)

    async def aclose(self) -> None:
        pass


def test_a_backend_class_and_config_are_all_the_runner_needs(tmp_path, monkeypatch):
    from curate.annotate.runner import annotate

    monkeypatch.setitem(backends.BACKENDS, "toy", ToyBackend)
    monkeypatch.setattr("curate.annotate.config.backend_names", lambda: ("gemini", "openai", "toy"))
    config = load_config(default_config_path("openai"), backend="toy", base_url="unused")
    assert isinstance(make_backend(config), ToyBackend)
    corpus = [*docs(3), Document(id="v", lang="nb", text="VETO mot denne teksten.")]
    summary = annotate(corpus, "linguistic_quality", config, tmp_path, progress=False)
    assert (summary.annotated, summary.failed) == (3, 1)
    failure = json.loads((tmp_path / "linguistic_quality.failures.jsonl").read_text())
    assert failure["reason"] == "answer blocked: finishReason vetoed"
    record = json.loads((tmp_path / "linguistic_quality.jsonl").read_text().splitlines()[0])
    assert record["annotator"]["backend"] == "toy" and record["score"] == 2


def test_a_backend_without_an_implementation_is_refused_not_run_as_another():
    config = load_config(default_config_path("openai"))
    config.backend = "vllm-native"
    with pytest.raises(ValueError, match="no implementation"):
        make_backend(config)


# --- a filter step with a file parameter: its class (path_params) plus its STEPS entry ------


class StopWordFilter(BaseFilter):
    """Drops documents holding any word of a word-list file."""

    name = "toy stop words"
    path_params = ("word_list",)

    def __init__(self, word_list: str, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.words = set(Path(word_list).read_text().split())

    def filter(self, doc):
        return not (set(doc.text.split()) & self.words)


def test_a_steps_file_parameter_is_confined_by_root_and_part_of_the_run_identity(
    tmp_path, monkeypatch
):
    monkeypatch.setitem(pipeline_build.STEPS, "stop_words", StopWordFilter)
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    write_documents(docs(4), root / "in" / "docs.jsonl.gz")
    words = root / "words.txt"
    words.write_text("nummer\n")
    document = {
        "input": {"path": str(root / "in"), "source": "curate"},
        "steps": [{"stop_words": {"word_list": str(words)}}],
        "output": {"path": str(root / "out")},
        "executor": {"local": {"tasks": 1}},
    }
    spec = pipeline_build.parse(document)
    pipeline_build.confine(spec, root)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("nummer\n")
    escaping = pipeline_build.parse(
        {**document, "steps": [{"stop_words": {"word_list": str(outside)}}]}
    )
    with pytest.raises(SpecError, match=r"step 1 \(stop_words\)\.word_list"):
        pipeline_build.confine(escaping, root)

    outcome = pipeline_build.run_spec(spec)
    assert outcome.state == "done"
    assert len(list((root / "out" / "excluded").rglob("*.jsonl.gz"))) == 1
    run = json.loads((root / "out" / "run.json").read_text())
    assert str(words) in run["bundles"]
    words.write_text("fjorden\n")  # the same spec, another word list: another run
    with pytest.raises(SpecError, match="holds a run made from other bundles"):
        pipeline_build.run_spec(pipeline_build.parse(document))


# --- a dedup: its class (a Dedup, its parameters its constructor's) plus its STEPS entry -------


class Prefix:
    def __init__(self, chars: int):
        self.chars = chars

    def __call__(self, doc) -> str:  # datatrove hashes what this annotation says
        return doc.text[: self.chars]


class PrefixDedup(ExactDedup):
    """Documents whose first `chars` characters are equal are one cluster."""

    def __init__(self, chars: int = 20, keep: str = "first", sources=()):
        super().__init__(keep, sources)
        self.chars = chars

    def signature(self) -> list:
        from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupSignature

        config = ExactDedupConfig(content_getter=Prefix(self.chars))
        return [
            self.members(),
            ExactDedupSignature(output_folder=str(self.work / "signatures"), config=config),
        ]


def test_a_dedup_is_one_step_class_with_its_parameters_in_its_signature(tmp_path, monkeypatch):
    monkeypatch.setitem(pipeline_build.STEPS, "prefix_dedup", PrefixDedup)
    texts = ["Dette er dokument nummer en.", "Dette er dokument nummer to.", "Noe helt annet."]
    write_documents(
        [Document(id=f"d{i}", text=t) for i, t in enumerate(texts)], tmp_path / "in" / "d.jsonl.gz"
    )
    document = {
        "input": {"path": str(tmp_path / "in"), "source": "curate"},
        "steps": [{"prefix_dedup": {"chars": 24, "keep": "longest"}}],
        "output": {"path": str(tmp_path / "out")},
        "executor": {"local": {"tasks": 1}},
    }
    wrong = {**document, "steps": [{"prefix_dedup": {"char": 24}}]}
    with pytest.raises(SpecError, match=r"unknown parameters \['char'\]; allowed: \['chars'"):
        pipeline_build.build_stages(pipeline_build.parse(wrong))
    assert pipeline_build.run_spec(pipeline_build.parse(document)).state == "done"
    kept = sorted(d.text for d in read_documents([tmp_path / "out" / "kept"]))
    assert len(kept) == 2 and texts[2] in kept


# --- a damage family: its function in FAMILIES plus its score in each task file --------------


def test_a_damage_family_missing_from_a_task_file_is_caught(monkeypatch):
    monkeypatch.setitem(FAMILIES, "all_caps", lambda text, rng, donors=(): text.upper())
    missing = [t.name for t in registry().values() if set(t.damage_scores) != set(FAMILIES)]
    assert sorted(missing) == sorted(task_names())  # the check above would fail: no silent miss


def test_a_damage_family_with_its_scores_labels_synthetic_copies(tmp_path, monkeypatch):
    from curate.synthesize import synthesize

    monkeypatch.setitem(FAMILIES, "all_caps", lambda text, rng, donors=(): text.upper())
    folder = tmp_path / "tasks"
    folder.mkdir()
    toy = {**TOY_TASK, "damage_scores": {**TOY_TASK["damage_scores"], "all_caps": 1}}
    (folder / "toxicity.yaml").write_text(yaml.safe_dump(toy, allow_unicode=True))
    monkeypatch.setenv("CURATE_TASKS", str(folder))
    summary = synthesize(
        docs(3), tmp_path / "out", families=["all_caps"], copies=1, tasks=["toxicity"]
    )
    assert summary["labels"]["toxicity"] == {0: 3, 1: 3}


def test_a_damage_family_that_needs_donors_says_so(tmp_path, monkeypatch):
    """`@uses_donors` is all `curate synthesize` needs to ask for donor documents."""
    from curate.degrade import uses_donors
    from curate.errors import InputError
    from curate.synthesize import synthesize

    @uses_donors
    def borrowed(text, rng, donors=()):
        return text + " " + donors[0]

    monkeypatch.setitem(FAMILIES, "borrowed", borrowed)
    with pytest.raises(InputError, match="borrowed needs --donors"):
        synthesize(docs(2), tmp_path / "out", families=["borrowed"], copies=1)
    summary = synthesize(
        docs(2), tmp_path / "out", donors=["Ein annan tekst."], families=["borrowed"], copies=1
    )
    assert summary["damaged"] == 2


# --- a source schema: its adapter and its Schema entry (name, adapter, recogniser) ---------


def test_a_source_schema_is_read_by_name_and_recognised_by_auto(tmp_path, monkeypatch):
    from curate.documents import read_documents

    def from_toy(row, path, line):  # every schema keeps its text in `text` (checked before)
        return Document(id=row["uid"], text=row["text"], lang=row["sprak"], source="toy")

    toy = Schema("toy", from_toy, lambda keys: "sprak" in keys and "uid" in keys)
    monkeypatch.setattr("curate.sources.SOURCE_SCHEMAS", [toy, *SOURCE_SCHEMAS])
    assert detect_schema({"uid": 1, "sprak": "nn", "text": "x"}) == "toy"
    path = tmp_path / "toy.jsonl"
    path.write_text(json.dumps({"uid": "a", "sprak": "nn", "text": "Fjorden er djup."}) + "\n")
    for source in ("auto", "toy"):
        (doc,) = read_documents([path], source=source)
        assert (doc.id, doc.lang, doc.source, doc.text) == ("a", "nn", "toy", "Fjorden er djup.")


def test_a_broken_task_file_stops_the_cli_with_one_line(tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "toxicity.yaml").write_text(yaml.safe_dump({**TOY_TASK, "stand_in": "vibes"}))
    shown = curate("--help", env={"CURATE_TASKS": str(folder)})
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert "stand_in 'vibes'" in shown.stderr and "toxicity.yaml" in shown.stderr


def test_an_executor_is_one_runner_class(tmp_path, monkeypatch):
    """A toy executor kind: a Runner subclass in RUNNERS is all a spec's `executor:` section,
    `curate filter` and its checks need (it neither queues nor writes job scripts)."""
    from click.testing import CliRunner

    from curate.cli import cli
    from curate.pipeline.executors import RUNNERS, LocalRunner

    ran = []

    class ToyRunner(LocalRunner):
        kind = "toy"

        def run(self, stages, layout, name, dry_run=False, wait=False):
            ran.append(len(stages))
            return super().run(stages, layout, name)

    monkeypatch.setitem(RUNNERS, "toy", ToyRunner)
    docs = [Document(id=f"d{i}", text=f"Dette er dokument nummer {i}.") for i in range(5)]
    write_documents(docs, tmp_path / "in" / "docs.jsonl.gz")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "toy",
                "input": {"path": str(tmp_path / "in")},
                "steps": [{"fix_encoding": {}}],
                "output": {"path": str(tmp_path / "out")},
                "executor": {"type": "toy", "toy": {"tasks": 1, "workers": 1}},
            }
        )
    )
    result = CliRunner().invoke(cli, ["filter", str(spec)])
    assert result.exit_code == 0, result.output
    assert ran == [1]
    kept = list((tmp_path / "out" / "kept").glob("*"))
    assert kept and sum(1 for _ in gzip.open(kept[0], "rt")) == 5

    refused = CliRunner().invoke(cli, ["filter", str(spec), "--dry-run"])
    assert refused.exit_code == 1 and "--dry-run is for --executor slurm" in refused.output
