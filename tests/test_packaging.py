"""A non-editable install works from any directory: what commands need at run time (prompts,
default annotation configs, the reference split) ships inside the wheel."""

import json
import os
import subprocess
import sys
from pathlib import Path


def test_wheel_installed_elsewhere_annotates_from_another_directory(tmp_path, repo_root):
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(repo_root)], check=True)
    (wheel,) = wheels.glob("curate-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    (work / "c.jsonl").write_text(
        json.dumps({"id": "a", "text": "Fjorden er dyp og smal, og fjellene er høye."}) + "\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}  # the wheel's copy, not the checkout
    where = subprocess.run(
        [sys.executable, "-c", "import curate; print(curate.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where.strip()).is_relative_to(target)
    result = subprocess.run(
        [sys.executable, "-m", "curate.cli", "annotate", "c.jsonl", "--fake-llm", "-o", "out"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for task in ("educational_value", "linguistic_quality"):
        (record,) = [
            json.loads(x) for x in (work / "out" / f"{task}.jsonl").read_text().split("\n") if x
        ]
        assert record["id"] == "a" and record["annotator"]["prompt_sha256"]
    split = subprocess.run(
        [
            sys.executable,
            "-c",
            "from curate.reference import load_split; print(len(load_split()))",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert split.returncode == 0 and int(split.stdout) > 1000, split.stderr  # 1,788 ids


# Runs `curate` with the libraries of the extras made unimportable: a base-install worker.
WITHOUT_EXTRAS = """
import importlib.abc, sys
EXTRAS = ("torch", "transformers", "pytorch_lightning", "lightning", "google.genai", "sklearn",
          "scipy", "onnx", "krippendorff", "aiohttp", "ray")
class WithoutExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == e or name.startswith(e + ".") for e in EXTRAS):
            raise ImportError(f"{name} is not installed")
sys.meta_path.insert(0, WithoutExtras())
from curate.cli import main
sys.argv = ["curate", *sys.argv[1:]]
main()
"""


def base_install(args, cwd):
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *args], cwd=cwd, capture_output=True, text=True
    )


def test_a_base_install_scores_and_commands_name_the_extra_they_miss(bundle, tmp_path, repo_root):
    scored = base_install(
        [
            "score",
            str(repo_root / "data" / "demo"),
            "--model",
            str(bundle[0]),
            "-o",
            str(tmp_path / "scored.jsonl.gz"),
        ],
        tmp_path,
    )
    assert scored.returncode == 0, scored.stderr
    assert (tmp_path / "scored.jsonl.gz").stat().st_size > 0
    for args, extra in (
        (["train", "--config", "x.yaml", "--annotations", "."], None),
        (["annotate", ".", "--fake-llm", "-o", "o"], "annotate"),
        (["export", ".", "-o", "b", "--data", str(repo_root / "data" / "demo")], "train"),
    ):
        (tmp_path / "x.yaml").write_text("task: t\n")
        result = base_install(args, tmp_path)
        assert result.returncode != 0
        assert f"pip install 'curate[{extra or 'train'}]'" in result.stderr, result.stderr
