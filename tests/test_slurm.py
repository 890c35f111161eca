"""A real single-node Slurm (slurmctld + slurmd + munge from Debian's slurm-wlm, started by
tools/slurm_single_node.sh as root): the demo-shaped spec submitted with `--executor slurm
--wait` gives the local run's output document by document, merged stats included; the
`--dry-run` scripts are accepted by that sbatch; a failing stage makes `--wait` exit non-zero
and leaves no job waiting on it. Skipped, saying why, where Slurm cannot start."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from curate.documents import read_documents

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    start = subprocess.run(
        ["bash", str(REPO / "tools" / "slurm_single_node.sh"), "start", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if start.returncode != 0:
        pytest.skip(f"single-node Slurm did not start: {start.stderr.strip()[-500:]}")
    env = {**os.environ, "SLURM_CONF": start.stdout.strip()}
    # the jobs must find curate without the venv on PATH (as from `.venv/bin/curate`)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != bin_dir)
    yield env
    subprocess.run(["bash", str(REPO / "tools" / "slurm_single_node.sh"), "stop", str(state)])


def spec_file(tmp_path, name, bundle_dir, **slurm):
    spec = {
        "name": name,
        "input": {"path": str(REPO / "data" / "demo")},
        "steps": [
            {"language": {"languages": ["nb", "nn"]}},
            {"quality_scorer": {"bundles": [str(bundle_dir)], "batch_size": 64}},
            {"exact_dedup": {"keep": "best_score"}},
            {"minhash_dedup": {"language": "nb", "keep": "best_score", "num_buckets": 2}},
            {"score_filter": {"bundles": [str(bundle_dir)]}},
            {"rehydrate": {}},
        ],
        "output": {"path": str(tmp_path / name)},
        "executor": {
            "local": {"tasks": 2, "workers": 2},
            "slurm": {"tasks": 2, "partition": "cpu", "time": "00:20:00", "cpus_per_task": 1,
                      "mem_per_cpu_gb": 2, **slurm},
        },
    }  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def curate(env, *args, timeout=900):
    cmd = [sys.executable, "-m", "curate.cli", "filter", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def outcome(out: Path) -> dict:
    """Where each document (and each rehydrated copy) ended, with its metadata."""
    found = {}
    for folder in [out / "kept", *sorted((out / "excluded").glob("*"))]:
        for doc in read_documents([folder]):
            found[doc.id] = (folder.name, json.dumps(doc.metadata, sort_keys=True))
    return found


def counters(out: Path) -> dict:
    """Every stage's merged stats without the timings."""
    merged = {}
    for stats in sorted((out / "logs").glob("stage*/stats.json")):
        for step in json.loads(stats.read_text()):
            merged[(stats.parent.name, step["name"])] = {
                k: v for k, v in step["stats"].items() if "time" not in k
            }
    return merged


def wait_idle(env, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=env)
        if not queue.stdout.strip():
            return
        time.sleep(2)
    raise AssertionError(f"jobs still queued: {queue.stdout}")


def test_slurm_run_equals_the_local_run(slurm, tmp_path, bundle):
    local = curate(slurm, spec_file(tmp_path, "local", bundle[0]))
    assert local.returncode == 0, local.stderr[-3000:]
    spec = spec_file(tmp_path, "slurm", bundle[0])
    run = curate(slurm, spec, "--executor", "slurm", "--wait")
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]
    expected = outcome(tmp_path / "local")
    assert len([k for k in expected if "#" not in k]) == 627
    assert outcome(tmp_path / "slurm") == expected
    assert counters(tmp_path / "slurm") == counters(tmp_path / "local")
    # the dry run's scripts, submitted by hand, are accepted and give the same output
    dry = spec_file(tmp_path, "dry", bundle[0])
    written = curate(slurm, dry, "--executor", "slurm", "--dry-run")
    assert written.returncode == 0, written.stderr[-3000:]
    submit = tmp_path / "dry" / "logs" / "slurm_dry_run" / "submit.sh"
    submitted = subprocess.run(["bash", str(submit)], capture_output=True, text=True, env=slurm)
    assert submitted.returncode == 0, submitted.stderr
    wait_idle(slurm)
    local_docs = {k: v[0] for k, v in expected.items()}
    assert {k: v[0] for k, v in outcome(tmp_path / "dry").items()} == local_docs


def test_a_failed_stage_ends_the_run_with_an_error_and_no_waiting_jobs(slurm, tmp_path, bundle):
    spec = spec_file(tmp_path, "broken", bundle[0], env_command="export PATH=/nonexistent")
    run = curate(slurm, spec, "--executor", "slurm", "--wait", timeout=300)
    assert run.returncode != 0
    assert "stage 1 (job" in run.stderr and "2 of 2 tasks did not complete" in run.stderr
    queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=slurm)
    assert queue.stdout.strip() == ""  # the dependent stages were cancelled, not left pending
