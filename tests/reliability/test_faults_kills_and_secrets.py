"""The annotator under 20% injected faults; kill -9 in the middle of annotate, filter and
pretrain, then a rerun; API keys never in a log, an output or a report."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch
import yaml
from llm_fault_server import FaultServer

from curate.documents import Document

SECRET = "AIza-reliability-SECRET-0c1d"


def corpus(n):
    return [
        Document(id=f"d{i}", lang="nb", source="t", text=f"Dokument {i} om fjorder og isbreer.")
        for i in range(n)
    ]


def test_annotator_under_20_percent_faults_loses_nothing_and_pays_once(tmp_path, monkeypatch):
    from curate.annotate.config import default_config_path, load_config
    from curate.annotate.runner import annotate

    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    monkeypatch.chdir(Path(__file__).parents[2])
    docs = corpus(300)
    with FaultServer(fault_rate=0.2, retry_delay_s=0.01, seed=1) as server:
        cfg = load_config(
            default_config_path("gemini"),
            base_url=server.url,
            concurrency=32,
            requests_per_minute=600000,
            max_attempts=8,
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
        )
        summary = annotate(docs, "educational_value", cfg, tmp_path, progress=False)
        log = list(server.log)
    lines = (tmp_path / "educational_value.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    ids = Counter(r["id"] for r in records)
    assert set(ids) == {d.id for d in docs} and max(ids.values()) == 1  # none lost, none twice
    faults = sum(1 for e in log if e["fault"])
    assert faults > 0.15 * len(log)  # the faults really happened
    successes = Counter(e["doc"] for e in log if not e["fault"])
    assert len(successes) == len(docs) and max(successes.values()) == 1  # each paid once
    assert summary.retries == faults


def wait_for(predicate, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and not predicate():
        time.sleep(0.02)
    return predicate()


def kill_when(cmd, predicate, env=None):
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    assert wait_for(predicate), "the run finished or stalled before the kill point"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return proc


def test_kill_9_during_pretrain_then_resume_matches_an_uninterrupted_run(tmp_path, repo_root):
    from curate.lm.tokenizer import init_tiny

    model = init_tiny(
        [repo_root / "data/demo/ncc_demo.jsonl.gz"], tmp_path / "m", 512, hidden_size=64, layers=2
    )

    def config(name):
        raw = {
            "stage": "pretrain",
            "model": str(model),
            "output": str(tmp_path / name),
            "data": {"train": [str(repo_root / "data/demo")], "max_length": 128},
            "training": {
                "batch_size": 4,
                "accumulate_grad_batches": 2,
                "max_steps": 60,
                "checkpoint_every_n_steps": 5,
                "learning_rate": 1e-3,
            },
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return ["curate", "pretrain", "--config", str(path)]

    cmd = [sys.executable, "-m", "curate.cli"]
    whole = config("whole")
    assert subprocess.run([*cmd, *whole[1:]], capture_output=True).returncode == 0
    killed = config("killed")
    ckpts = tmp_path / "killed" / "checkpoints"
    kill_when([*cmd, *killed[1:]], lambda: any(ckpts.glob("epoch=*.ckpt")))
    assert not (tmp_path / "killed" / "model").exists()  # it really died mid-run
    again = subprocess.run([*cmd, *killed[1:], "--resume"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    a = torch.load(tmp_path / "whole/checkpoints/last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "killed/checkpoints/last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 60
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, atol=1e-6, rtol=1e-5)


def test_api_key_never_reaches_logs_outputs_or_reports(tmp_path, repo_root, bundle):
    """annotate -> score -> filter -> report with a key set and verbose logging; then grep
    every file written and everything printed."""
    env = {**os.environ, "GEMINI_API_KEY": SECRET}
    cli = [sys.executable, "-m", "curate.cli", "-vv"]
    out = tmp_path / "out"
    with FaultServer(fault_rate=0.2, retry_delay_s=0.01) as server:
        annotate = [
            *cli,
            "annotate",
            str(repo_root / "data/demo/plain"),
            "-o",
            str(out / "ann"),
            "--base-url",
            server.url,
        ]
        printed = [subprocess.run(annotate, capture_output=True, text=True, env=env, cwd=repo_root)]
        assert any(e["api_key"] == SECRET for e in server.log)  # it was sent, in a header
    score = [
        *cli,
        "score",
        str(repo_root / "data/demo/plain"),
        "--model",
        str(bundle[0]),
        "-o",
        str(out / "scored.jsonl.gz"),
    ]
    spec = {
        "input": {"path": str(out / "scored.jsonl.gz")},
        "steps": [{"language": {"languages": None}}],
        "output": {"path": str(out / "filter")},
        "executor": {"local": {"tasks": 1}},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    for command in (score, [*cli, "filter", str(tmp_path / "spec.yaml")]):
        printed.append(subprocess.run(command, capture_output=True, text=True, env=env))
    assert all(p.returncode == 0 for p in printed), [p.stderr[-1500:] for p in printed]
    assert (out / "filter" / "report.html").exists() and list((out / "ann").glob("*.jsonl"))
    for p in printed:
        assert SECRET not in p.stdout + p.stderr
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                import gzip

                data = gzip.decompress(data)
            assert SECRET.encode() not in data, path
