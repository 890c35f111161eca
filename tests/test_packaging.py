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
