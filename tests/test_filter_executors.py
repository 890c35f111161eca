"""One spec on three executors: local, Slurm (dry run: the sbatch scripts datatrove would
submit) and Ray (a real local Ray instance); and a killed local run resumed to the same output."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from click.testing import CliRunner

from curate.cli import cli
from curate.documents import read_documents


def spec_file(tmp_path, bundle_dir, repo_root, name, executor, steps=None):
    spec = {
        "name": name,
        "input": {"path": str(repo_root / "data" / "demo")},
        "steps": steps
        or [
            {"language": {"languages": ["nb", "nn"]}},
            {"exact_dedup": {}},
            {"quality_scorer": {"bundles": [str(bundle_dir)], "batch_size": 32}},
            {"score_filter": {"bundles": [str(bundle_dir)]}},
        ],
        "output": {"path": str(tmp_path / name)},
        "executor": executor,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def outcome(out):
    """Where each document ended and its score: what must not depend on the executor."""
    result = {}
    for folder in [out / "kept", *sorted((out / "excluded").glob("*"))]:
        for doc in read_documents([folder]):
            score = doc.metadata.get("educational_value")
            result[doc.id] = (folder.name, None if score is None else round(score, 4))
    return result


def test_slurm_dry_run_writes_well_formed_chained_sbatch_scripts(tmp_path, repo_root, bundle):
    slurm = {"tasks": 8, "partition": "cpu", "time": "01:00:00", "cpus_per_task": 2}
    slurm["env_command"] = "source /opt/venv/bin/activate"
    spec = spec_file(tmp_path, bundle[0], repo_root, "slurm", {"slurm": slurm})
    result = CliRunner().invoke(cli, ["filter", str(spec), "--executor", "slurm", "--dry-run"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "slurm" / "logs" / "slurm_dry_run"
    scripts = sorted(folder.glob("job*.sbatch"))
    assert len(scripts) == 8  # 4 stages (steps, signatures, clusters, filter), each + merge_stats
    for script in scripts:
        text = script.read_text()
        assert text.startswith("#!/bin/bash\n")
        directives = dict(re.findall(r"^#SBATCH --([\w-]+)=?(.*)$", text, re.M))
        assert directives["partition"] == "cpu" and directives["time"] == "01:00:00"
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    first = scripts[0].read_text()
    assert re.search(r"^#SBATCH --array=0-7$", first, re.M)
    assert "source /opt/venv/bin/activate" in first and "launch_pickled_pipeline" in first
    submit = (folder / "submit.sh").read_text()
    assert subprocess.run(["bash", "-n", str(folder / "submit.sh")]).returncode == 0
    assert "--dependency=afterok:$JOB1" in submit  # stage 2 waits for stage 1's array job
    # the pickled executor the job would load runs our reader and steps
    import dill

    def pipeline(stage):
        pik = tmp_path / "slurm" / "logs" / f"stage{stage}" / "executor.pik"
        return [type(s).__name__ for s in dill.loads(pik.read_bytes()).pipeline]

    assert pipeline(1)[:2] == ["CurateReader", "NordicLanguageFilter"]
    assert "QualityScorer" in pipeline(4) and "ScoreFilter" in pipeline(4)
    # no placeholder job id is left inside a script: every dependency is on submit.sh's lines
    assert not any(re.search(r"\bJOB\d", s.read_text()) for s in scripts)
    jobs = [line for line in submit.splitlines() if re.match(r"JOB\d+=", line)]
    assert len(jobs) == 8 and all("--dependency=after" in line for line in jobs[1:])
    assert not (tmp_path / "slurm" / "kept").exists()  # nothing ran


def test_ray_executor_gives_the_same_output_as_local(tmp_path, repo_root, bundle):
    pytest.importorskip("ray")
    executor = {
        "local": {"tasks": 3, "workers": 2},
        "ray": {"tasks": 3, "workers": 2, "cpus_per_task": 1, "mem_per_cpu_gb": 1, "num_cpus": 2},
    }
    local = spec_file(tmp_path, bundle[0], repo_root, "local", executor)
    ray = spec_file(tmp_path, bundle[0], repo_root, "ray", executor)
    cmd = [sys.executable, "-m", "curate.cli", "filter"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    run_local = subprocess.run([*cmd, str(local)], capture_output=True, text=True, timeout=600)
    assert run_local.returncode == 0, run_local.stderr[-3000:]
    run_ray = subprocess.run(
        [*cmd, str(ray), "--executor", "ray"], capture_output=True, text=True, env=env, timeout=600
    )
    assert run_ray.returncode == 0, run_ray.stderr[-3000:]
    local_out, ray_out = outcome(tmp_path / "local"), outcome(tmp_path / "ray")
    assert len(local_out) == 627 and ray_out == local_out
    kept = [v for v in ray_out.values() if v[0] == "kept"]
    assert kept and len({v[0] for v in ray_out.values()}) == 4  # kept + 3 exclusion folders
    stats = json.loads((tmp_path / "ray" / "logs" / "stage4" / "stats.json").read_text())
    scorer = next(s for s in stats if "quality scorer" in s["name"])
    scored = [v for v in ray_out.values() if v[1] is not None]  # a score may be 0.0
    assert scorer["stats"]["scored"]["total"] == len(scored)


def test_killed_run_resumes_to_the_same_output_and_merged_stats(tmp_path, repo_root, bundle):
    executor = {"local": {"tasks": 4, "workers": 1}}
    steps = [
        {"quality_scorer": {"bundles": [str(bundle[0])], "batch_size": 16}},
        {"score_filter": {"bundles": [str(bundle[0])]}},
    ]
    whole = spec_file(tmp_path, bundle[0], repo_root, "whole", executor, steps)
    killed = spec_file(tmp_path, bundle[0], repo_root, "killed", executor, steps)
    cmd = [sys.executable, "-m", "curate.cli", "filter"]
    assert subprocess.run([*cmd, str(whole)], capture_output=True, timeout=600).returncode == 0

    proc = subprocess.Popen([*cmd, str(killed)], stderr=subprocess.DEVNULL, start_new_session=True)
    completions = tmp_path / "killed" / "logs" / "completions"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(completions.glob("*"))) < 1:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-run: at least one task done, not all
    proc.wait()
    done_before = len(list(completions.glob("*")))
    assert 1 <= done_before < 4

    again = subprocess.run([*cmd, str(killed)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    console_log = (tmp_path / "killed" / "logs" / "console.log").read_text()
    assert f"Skipping {done_before} already completed tasks" in console_log
    assert outcome(tmp_path / "killed") == outcome(tmp_path / "whole")
    merged = json.loads((tmp_path / "killed" / "logs" / "stats.json").read_text())
    scorer = next(s for s in merged if "quality scorer" in s["name"])
    assert scorer["stats"]["scored"]["total"] == 627  # all 4 tasks, not just the rerun ones


def test_a_rerun_with_other_steps_or_bundles_is_refused_and_restart_starts_over(
    tmp_path, repo_root, bundle
):
    """datatrove skips the tasks a folder's logs mark complete: rerunning a changed spec (or a
    retrained bundle) into it would quietly keep the old results."""
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(bundle[0], copy)
    executor = {"local": {"tasks": 2, "workers": 1}}
    scored = [
        {"language": {"languages": ["nb", "nn"]}},
        {"quality_scorer": {"bundles": [str(copy)], "batch_size": 64}},
    ]
    spec = spec_file(tmp_path, copy, repo_root, "run", executor, scored)
    runner = CliRunner()
    assert runner.invoke(cli, ["filter", str(spec)]).exit_code == 0

    def kept():
        return {d.id for d in read_documents([tmp_path / "run" / "kept"])}

    both = kept()
    assert runner.invoke(cli, ["filter", str(spec)]).exit_code == 0  # same run: resumes
    assert kept() == both

    nb_only = [{"language": {"languages": ["nb"]}}, scored[1]]
    spec_file(tmp_path, copy, repo_root, "run", executor, nb_only)
    refused = runner.invoke(cli, ["filter", str(spec)])
    assert refused.exit_code != 0
    assert "holds a run made from other steps" in refused.output and "--restart" in refused.output
    assert kept() == both  # untouched

    restarted = runner.invoke(cli, ["filter", str(spec), "--restart"])
    assert restarted.exit_code == 0, restarted.output
    assert kept() and kept() < both  # Nynorsk no longer kept

    manifest = copy / "classifier.json"  # a retrained bundle at the same path
    manifest.write_text(manifest.read_text().replace('"threshold"', '"threshold" ', 1))
    refused = runner.invoke(cli, ["filter", str(spec)])
    assert refused.exit_code != 0 and "other bundles" in refused.output


def test_restart_removes_only_a_folder_that_holds_a_run(tmp_path, repo_root, bundle):
    keep_me = tmp_path / "mine"
    keep_me.mkdir()
    (keep_me / "notes.txt").write_text("not a curate run")
    spec = spec_file(tmp_path, bundle[0], repo_root, "mine", {"local": {"tasks": 1}})
    result = CliRunner().invoke(cli, ["filter", str(spec), "--restart"])
    assert result.exit_code != 0 and "holds no curate run" in result.output
    assert (keep_me / "notes.txt").exists()


def test_an_unreadable_run_record_is_a_clear_error(tmp_path, repo_root, bundle):
    spec = spec_file(
        tmp_path, bundle[0], repo_root, "torn", {"local": {"tasks": 1}}, [{"fix_encoding": {}}]
    )
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "run.json").write_text('{"input": ')  # cut off mid-write by hand
    result = CliRunner().invoke(cli, ["filter", str(spec)])
    assert result.exit_code != 0
    assert "run.json is not readable JSON" in result.output and "--restart" in result.output
    assert CliRunner().invoke(cli, ["filter", str(spec), "--restart"]).exit_code == 0
