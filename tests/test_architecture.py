"""The package's shape: no import cycles (counting imports inside functions, which only hide
them), and no test double in the runtime package."""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "curate"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The curate modules `path` imports, anywhere in it."""
    found = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules}


def import_graph() -> nx.DiGraph:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in files.items():
        graph.add_node(name)
        graph.add_edges_from((name, dep) for dep in imports_of(path, set(files)) if dep != name)
    return graph


def test_no_import_cycles_in_curate():
    cycles = sorted(
        sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1
    )
    assert cycles == [], f"import cycles: {cycles}"


def test_no_import_cycles_between_curates_packages():
    """curate.pipeline may use curate.classify, never the other way round as well (the filter
    run's report lives in curate.pipeline: it read pipeline's layout while pipeline wrote it)."""
    packages = nx.DiGraph()
    for a, b in import_graph().edges():
        pa, pb = ".".join(a.split(".")[:2]), ".".join(b.split(".")[:2])
        if pa != pb:
            packages.add_edge(pa, pb)
    cycles = sorted(sorted(c) for c in nx.strongly_connected_components(packages) if len(c) > 1)
    assert cycles == [], f"package cycles: {cycles}"


@pytest.mark.parametrize("folder", ["benchmarks", "tools"])
def test_no_import_cycles_in_the_scripts(folder):
    """benchmarks/ and tools/ import each other's modules by bare name (the folder is on
    sys.path when a script runs): no two of them import each other, even lazily."""
    scripts = {p.stem: p for p in (PACKAGE.parent / folder).glob("*.py")}
    graph = nx.DiGraph()
    for name, path in scripts.items():
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                used = {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                used = {node.module or ""}
            else:
                continue
            graph.add_edges_from((name, u) for u in used if u in scripts and u != name)
    cycles = sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)
    assert cycles == [], f"import cycles in {folder}/: {cycles}"


def test_the_scan_finds_a_cycle_when_there_is_one(tmp_path, monkeypatch):
    pkg = tmp_path / "curate"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from curate.a.y import g\n")
    (pkg / "a" / "y.py").write_text("from . import x\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    components = [c for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert components == [{"curate.a.x", "curate.a.y"}]


@pytest.mark.parametrize("marker", ["[[fault:", "fault_rate", "FAULT="])
def test_no_fault_injection_ships_in_the_package(marker):
    hits = [str(p) for p in PACKAGE.rglob("*.py") if marker in p.read_text(encoding="utf-8")]
    assert hits == []


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(tmp_path, monkeypatch, repo_root):
    from click.testing import CliRunner

    from curate.cli import cli

    spec = tmp_path / "spec.yaml"
    spec.write_text("input: {path: nowhere}\nsteps: [{langauge: {}}]\noutput: {path: out}\n")
    result = CliRunner().invoke(cli, ["filter", str(spec)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "unknown step 'langauge'" in result.output

    def bug(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr("curate.pipeline.build.run_filter", bug)
    result = CliRunner().invoke(cli, ["filter", str(spec)])
    assert isinstance(result.exception, ValueError)  # not turned into a user error

    # the same for `curate mix`: a wrong key is one line naming it; a bug keeps its traceback
    mix = ["mix", str(repo_root / "lm" / "mix.demo.yaml"), "-o", str(tmp_path / "mix")]
    result = CliRunner().invoke(cli, [*mix, "--set", "upsampel=2"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "unknown keys ['upsampel']" in result.output
    monkeypatch.setattr("curate.posttrain.mix.mix", bug)
    result = CliRunner().invoke(cli, mix)
    assert isinstance(result.exception, ValueError)


def curate_modules():
    """Every module of the package that imports here (one whose optional extra is missing is
    left out)."""
    import importlib
    import pkgutil

    import curate

    for info in pkgutil.walk_packages(curate.__path__, "curate."):
        try:
            yield importlib.import_module(info.name)
        except ImportError:
            continue


def test_every_error_curate_defines_is_a_curate_error():
    """One error family: the CLI turns exactly these into one line and their exit code."""
    import inspect

    from curate.errors import CurateError

    defined = [
        (module.__name__, obj)
        for module in curate_modules()
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == module.__name__
    ]
    assert len(defined) > 15
    assert [(m, c.__name__) for m, c in defined if not issubclass(c, CurateError)] == []


def test_only_the_cli_module_raises_click_errors():
    """Glue modules raise CurateErrors; curate/cli.py maps them in one place."""
    markers = ("ClickException", "click.exceptions", "UsageError")
    hits = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "cli.py" and any(m in p.read_text(encoding="utf-8") for m in markers)
    ]
    assert hits == []


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["annotate", "data/demo", "--sample", "2"], "annotation"),
        (["translate", "data/lm/sft_en_demo.jsonl", "--to", "nb"], "translation"),
    ],
)
def test_an_llm_command_without_a_key_stops_in_one_line(command, what, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from curate.cli import cli

    monkeypatch.chdir(PACKAGE.parent)
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "CURATE_FAKE_LLM"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, [*command, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    why = "no API key: set the environment variable GEMINI_API_KEY"
    assert len(lines) == 1 and lines[0].startswith(f"Error: {what} stopped: {why}")


def test_a_bug_in_an_ablation_variant_keeps_its_traceback(monkeypatch, caplog):
    """A variant's bad input is one line in the results; a bug there is logged with its
    traceback and kept in the results, and the other variants still run."""
    pytest.importorskip("pytorch_lightning")
    from curate.ablate import runner
    from curate.ablate.config import VariantConfig
    from curate.errors import InputError

    def bad_input(*args):
        raise InputError("no such folder: x")

    def bug(*args):
        return {}["missing key"]

    monkeypatch.setattr(runner, "variant_documents", bad_input)
    failed = runner.run_variant(None, None, VariantConfig(name="typo"), {}).failed
    assert failed == {"step": "filter", "error": "InputError: no such folder: x"}

    monkeypatch.setattr(runner, "variant_documents", bug)
    with caplog.at_level("ERROR"):
        failed = runner.run_variant(None, None, VariantConfig(name="buggy"), {}).failed
    assert failed["error"] == "KeyError: 'missing key'"
    assert 'return {}["missing key"]' in failed["traceback"]
    record = next(r for r in caplog.records if "buggy" in r.getMessage())
    assert record.exc_info and record.exc_info[0] is KeyError


def test_the_extras_guard_is_the_packaging_table():
    """`require_extra` reads the extras of pyproject.toml (as installed): each extra's modules
    are the import names of exactly what pyproject lists for it, includes resolved."""
    import tomllib

    from curate.extras import distributions, modules

    extras = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    name = re.compile(r"^[A-Za-z0-9_.-]+")
    for extra, lines in extras.items():
        listed = [name.match(line).group() for line in lines if not line.startswith("curate[")]
        assert set(listed) <= set(distributions(extra)), extra
    assert {"peft", "sklearn", "datasets"} <= set(modules("lm"))
    assert set(modules("lm")) < set(modules("ablate"))  # ablate = lm + lm-eval
    assert "google.genai" in modules("annotate")


def test_a_command_says_which_extra_to_install(monkeypatch, tmp_path):
    """With scikit-learn missing, `curate mix` with ClusterClip names the extra and the pip
    command instead of failing inside KMeans."""
    import importlib.util

    from click.testing import CliRunner

    from curate.cli import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "sklearn" else real(n, *a)
    )
    monkeypatch.chdir(PACKAGE.parent)
    result = CliRunner().invoke(cli, ["mix", "lm/mix.demo.yaml", "-o", str(tmp_path / "mix")])
    assert result.exit_code == 1, result.output
    assert "needs curate's [lm] extra (sklearn not installed): pip install 'curate[lm]'" in (
        result.output
    )
    assert not (tmp_path / "mix").exists()


def registered_names() -> dict[str, tuple[str | None, set[str]]]:
    """What a spec, a config or a command names: {kind: (the module that may compare them,
    names)}. Steps have none: build.py registers them and each step's class says what it is."""
    from curate.annotate.backends import BACKENDS
    from curate.degrade import FAMILIES
    from curate.pipeline.build import STEPS
    from curate.pipeline.executors import RUNNERS

    return {
        "step": (None, set(STEPS)),
        "runner": ("pipeline/executors.py", set(RUNNERS)),
        "backend": ("annotate/backends.py", set(BACKENDS)),
        "family": ("degrade.py", set(FAMILIES)),
    }


def name_comparisons(path: Path, names: set[str]) -> list[str]:
    """`x == "slurm"`, `name in {"gopher_quality", ...}`, `"language_mix" in families`: a
    registered name compared in code, where a capability of what is registered should be."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Set):
            parts = [node.value]  # a hand-written set of names, compared elsewhere
        else:
            continue
        strings = {
            c.value
            for part in parts
            for c in ast.walk(part)
            if isinstance(c, ast.Constant) and isinstance(c.value, str)
        }
        hits += [f"{path.name}:{node.lineno}: {s!r}" for s in sorted(strings & names)]
    return hits


def test_no_registered_name_is_compared_outside_its_owner():
    """Capabilities are attributes of what is registered (a step is per-language, a runner
    queues, a backend has a batch mode, a damage family needs donors), not name checks."""
    registered = registered_names()
    owner, steps = registered["step"]
    # the language step's name is also the `language` parameter of every word filter
    registered["step"] = (owner, steps - {"language"})
    # the test server speaks each backend's wire format: its protocols share their names
    elsewhere = {"annotate/fake_server.py"}
    hits = []
    for kind, (owner, names) in registered.items():
        for path in PACKAGE.rglob("*.py"):
            if str(path.relative_to(PACKAGE)) not in {owner, *elsewhere}:
                hits += [f"{kind} {hit}" for hit in name_comparisons(path, names)]
    assert hits == []


def test_dedups_are_steps_of_the_one_registry():
    """A dedup is registered like every step (STEPS), says what it is by its class, and takes
    its constructor's parameters: no second registry, no hand-written allowed keys."""
    from curate.pipeline import dedup
    from curate.pipeline.build import STEPS, step_classes

    assert step_classes() == STEPS
    dedups = {name for name, cls in STEPS.items() if issubclass(cls, dedup.Dedup)}
    assert dedups == {"exact_dedup", "minhash_dedup", "semantic_dedup"}
    registries = [
        name
        for name, value in vars(dedup).items()
        if isinstance(value, dict) and any(v in STEPS.values() for v in value.values())
    ]
    assert registries == []
    own = {n for cls in (dedup.Dedup, *map(STEPS.get, dedups)) for n in vars(cls)}
    assert "allowed" not in own


def test_every_atomic_write_goes_through_one_helper():
    """Renames over a target and hand-made temporary files live in curate/atomic.py alone."""
    pattern = re.compile(r"os\.replace\(|\.rename\(|mkstemp|mkdtemp|\btmp\.replace\(")
    hits = [
        f"{p.relative_to(PACKAGE)}:{n}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "atomic.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_litter(tmp_path):
    from curate.atomic import atomic_path, write_atomic

    target = tmp_path / "run" / "stats.json"
    write_atomic(target, "old")
    with pytest.raises(KeyError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyError("killed mid-write")
    assert target.read_text() == "old" and sorted(target.parent.iterdir()) == [target]
    folder = tmp_path / "bundle"
    for text in ("first", "second"):
        with atomic_path(folder) as tmp:
            tmp.mkdir()
            (tmp / "model.onnx").write_text(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "run"]
    assert (folder / "model.onnx").read_text() == "second"


def test_one_run_identity_helper_for_filter_runs_and_ablations(tmp_path):
    """Both long-running outputs claim their folder through curate.run_identity."""
    from curate.errors import CurateError
    from curate.run_identity import claim

    for owner in ("pipeline/build.py", "ablate/runner.py"):
        text = (PACKAGE / owner).read_text(encoding="utf-8")
        assert "from curate.run_identity import" in text and "before.get(" not in text, owner
    record = tmp_path / "run" / "run.json"
    assert claim(record, {"steps": [1], "tasks": 2}, "restart") == []  # written
    assert claim(record, {"steps": [1], "tasks": 2}, "restart") == []  # the same run
    assert claim(record, {"steps": [1, 2], "tasks": 2}, "restart") == ["steps"]
    record.write_text("{half")
    with pytest.raises(CurateError, match="run.json is not readable JSON.*restart"):
        claim(record, {"steps": [1]}, "restart")


def test_one_lightning_fit_and_resume_helper():
    """Classifier and LM training resume the same way: through curate/fit.py alone."""
    pattern = re.compile(r"\.fit\(\s*module|\"last\.ckpt\"")
    hits = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "fit.py" and pattern.search(p.read_text("utf-8"))
    ]
    assert hits == []


def test_a_language_model_run_folder_has_one_owner():
    """`curate pretrain/sft/dpo` and the ablation's runs name LM run files through
    curate/lm/layout.py only."""
    names = ('"summary.json"', '"token_cache"', '"adapter"')
    hits = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE) != Path("lm/layout.py")
        for n in names
        if n in p.read_text(encoding="utf-8")
    ]
    assert hits == []


def test_a_classifier_run_folder_has_one_owner():
    """`curate train`, `evaluate`, `export`, the config resolver and the cards name the files of
    a classifier run through curate/classify/layout.py only."""
    names = (
        '"metrics.json"',
        '"training_config.yaml"',
        '"README.md"',
        '"confusion_matrix.png"',
        '"score_distribution.png"',
        '"threshold_curves.png"',
        '/ "model"',
    )
    hits = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in (PACKAGE / "classify").rglob("*.py")
        if p.name != "layout.py"
        for n in names
        if n in p.read_text(encoding="utf-8")
    ]
    assert hits == []


def test_trained_metrics_are_typed_per_task(tmp_path):
    """Readers get each task's figures as a TaskMetrics (old one-task and joint files alike)."""
    from curate.classify.trained import TaskMetrics, parse_metrics

    task = {
        "task": "educational_value",
        "scale": [0, 5],
        "threshold": {"value": 3.0, "chosen_by": "f1", "positive_label": 3},
        "test": {"n": 4, "macro_f1": 0.5, "mse": 1.0, "spearman": 0.4, "accuracy": 0.5},
    }
    one = parse_metrics({**task, "max_length": 128})
    joint = parse_metrics({"max_length": 128, "tasks": [task, {**task, "task": "other"}]})
    assert isinstance(one.tasks[0], TaskMetrics) and one.tasks[0].scale == (0, 5)
    assert joint.task_names == ["educational_value", "other"]
    assert one.tasks[0].headline == {"macro_f1": 0.5, "mse": 1.0, "spearman": 0.4, "accuracy": 0.5}


@dataclass
class NotedConfig:
    plain: int = 1
    commented: int = 2  # a comment on its line
    # a comment above it
    above: str = "x"
    documented: float = 0.5
    """A docstring after it, litgpt's way."""


def test_field_notes_come_from_the_config_classes_own_source():
    from curate.config_notes import config_keys

    assert config_keys(NotedConfig) == [
        ("plain", "", "default: 1"),
        ("commented", "a comment on its line", "default: 2"),
        ("above", "a comment above it", "default: x"),
        ("documented", "A docstring after it, litgpt's way.", "default: 0.5"),
    ]


def test_config_field_notes_reach_help_and_every_config_option_names_a_real_key():
    """Options that override a config key take their help from the key's note; every command
    that reads a config lists its keys, notes and defaults in --help."""
    from click.testing import CliRunner

    from curate.cli import ConfigCommand, ConfigOption, cli, config_class
    from curate.config_notes import key_note

    commands = [c for c in cli.commands.values() if isinstance(c, ConfigCommand)]
    assert {c.name for c in commands} >= {"annotate", "train", "pretrain", "sft", "dpo", "mix"}
    for command in cli.commands.values():
        for option in (p for p in command.params if isinstance(p, ConfigOption)):
            assert key_note(config_class(option.config), option.key) is not None, option.key
    for command in commands:
        shown = CliRunner().invoke(cli, [command.name, "--help"], terminal_width=200)
        assert shown.exit_code == 0 and "Config keys (--set KEY=VALUE" in shown.output
    train = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200).output
    assert "stop after this many optimizer steps; -1 = run all epochs (default: -1)" in train
    assert "--epochs INTEGER" in train and "Overrides the config's training.epochs: passes" in train


def test_a_bundle_manifest_is_written_from_typed_tasks(tmp_path):
    """Export hands the manifest's owner TaskSpecs; what it writes reads back as the same
    tasks, in the one-task format (1) and the several-task format (2)."""
    from curate.classify.bundle import TaskSpec, read_manifest, write_manifest

    edu = TaskSpec("educational_value", (0, 5), 3.0, "given", {"nb": 2.5}, parity={"n": 3})
    lq = TaskSpec("linguistic_quality", (0, 4), 2.0)
    shared = {"max_length": 128, "base_model": "x", "inputs": ["input_ids"], "sha256": {}}
    for tasks, version in (([edu], 1), ([edu, lq], 2)):
        folder = tmp_path / str(version)
        folder.mkdir()
        write_manifest(folder, tasks, shared)
        manifest = read_manifest(folder)
        assert manifest.format_version == version and manifest.tasks == tasks
