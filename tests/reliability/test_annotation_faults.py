"""Annotation against a server that fails the way Gemini and OpenAI-compatible servers fail
(tests/llm_fault_server.py): every document ends as an annotation or a failure record with its
reason and true attempt count; only a fatal condition stops the run, with a non-zero exit;
nothing is paid twice; costs are kept across runs."""

import json
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm_fault_server import USAGE, FaultServer

from curate.annotate.config import default_config_path, load_config
from curate.annotate.runner import AnnotationStopped, Budget, annotate
from curate.cli import cli
from curate.documents import Document, write_documents

KEY = "AIza-fault-suite-KEY-77"
TASK = "educational_value"


@pytest.fixture(autouse=True)
def env(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def docs(*faults: str, good: int = 4) -> list[Document]:
    """One document per fault marker, then `good` plain ones (score 4)."""
    marks = [*faults, *[None] * good]
    return [
        Document(
            id=f"d{i}",
            lang="nb",
            source="t",
            text=f"DOC=d{i} {'FAULT=' + f if f else ''} SCORE=4 Fjorden er dyp og smal.",
        )
        for i, f in enumerate(marks)
    ]


def config(backend: str, server: FaultServer, **kw):
    settings = dict(
        base_url=server.url if backend == "gemini" else server.url + "/v1",
        model="gemini-test",
        concurrency=4,
        requests_per_minute=600000,
        timeout_s=5,
        max_attempts=4,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        price_per_million_tokens={"input": 1.0, "output": 10.0},
    )
    settings.update(kw)
    return load_config(default_config_path(backend), **settings)


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def outcome(out: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    records = read(out / f"{TASK}.jsonl")
    failures = read(out / f"{TASK}.failures.jsonl")
    assert max(Counter(r["id"] for r in records).values(), default=1) == 1
    return {r["id"]: r for r in records}, {f["id"]: f for f in failures}


@pytest.mark.parametrize("backend", ["gemini", "openai"])
def test_unreadable_scores_become_failure_records_and_the_run_completes(tmp_path, backend):
    bad = ["score_nan", "score_inf", "score_str_nan", "score_1e999", "score_bool"]
    corpus = docs(*bad, "prose_two_scores")
    with FaultServer() as server:
        summary = annotate(corpus, TASK, config(backend, server), tmp_path, progress=False)
    records, failures = outcome(tmp_path)
    assert set(records) | set(failures) == {d.id for d in corpus}  # none lost
    assert set(failures) == {f"d{i}" for i in range(len(bad))}
    for f in failures.values():
        assert "not a finite number" in f["reason"] and f["attempts"] == 1
    assert records["d5"]["score"] == 1  # the verdict at the end, not the 5 weighed before it
    assert summary.annotated == 5 and summary.failed == 5
    assert summary.requests == len(server.log) == len(corpus)  # answers are paid once
    assert summary.input_tokens == USAGE["prompt"] * len(corpus)


@pytest.mark.parametrize("backend", ["gemini", "openai"])
def test_transport_faults_are_retried_through_the_runner_only(tmp_path, backend):
    faults = ["drop_mid_bodyx1", "disconnectx2", "html_200x1", "unavailablex3"]
    corpus = docs(*faults)
    with FaultServer() as server:
        summary = annotate(corpus, TASK, config(backend, server), tmp_path, progress=False)
        log = list(server.log)
    records, failures = outcome(tmp_path)
    assert not failures and set(records) == {d.id for d in corpus}
    # every request the server saw went through curate's limiter and counters: no hidden resend
    assert summary.requests == len(log)
    assert summary.retries == 1 + 2 + 1 + 3
    answered = Counter(e["doc"] for e in log if e["fault"] is None)
    assert set(answered.values()) == {1}  # each answer paid for once


def test_a_failure_record_carries_the_true_number_of_attempts(tmp_path):
    corpus = docs("unavailable", good=1)
    with FaultServer() as server:
        annotate(corpus, TASK, config("gemini", server, max_attempts=3), tmp_path, progress=False)
    _, failures = outcome(tmp_path)
    assert (
        failures["d0"]["attempts"] == 3 and "gave up after 3 attempts" in failures["d0"]["reason"]
    )


@pytest.mark.parametrize(
    ("fault", "words"),
    [("key_invalid", "API_KEY_INVALID"), ("quota_day", "daily quota")],
)
def test_fatal_gemini_errors_stop_the_run_with_a_non_zero_exit(tmp_path, fault, words):
    data = tmp_path / "c.jsonl"
    write_documents(docs(good=40), data)
    with FaultServer(always=fault) as server:
        result = CliRunner().invoke(
            cli,
            [
                "annotate",
                str(data),
                "--task",
                TASK,
                "--base-url",
                server.url,
                "--model",
                "gemini-test",
                "--concurrency",
                "2",
                "-o",
                str(tmp_path / "out"),
            ],
        )
        sent = len(server.log)
    assert result.exit_code == 1, result.output
    assert words in result.output and "annotation stopped" in result.output
    assert sent <= 4  # stopped at once, not after sending all 40 documents
    assert KEY not in result.output


def test_a_long_retry_after_is_capped(tmp_path):
    corpus = docs("retry_after_hugex1", good=1)
    start = time.monotonic()
    with FaultServer() as server:
        annotate(
            corpus, TASK, config("gemini", server, retry_after_max_s=0.2), tmp_path, progress=False
        )
    records, _ = outcome(tmp_path)
    assert set(records) == {"d0", "d1"} and time.monotonic() - start < 30


def test_an_empty_choices_answer_is_a_failure_whose_tokens_are_still_counted(tmp_path):
    corpus = docs("empty_choices", good=1)
    with FaultServer() as server:
        summary = annotate(corpus, TASK, config("openai", server), tmp_path, progress=False)
    _, failures = outcome(tmp_path)
    assert "no answer text" in failures["d0"]["reason"]
    assert summary.input_tokens == 2 * USAGE["prompt"]


def test_failures_are_pruned_after_a_successful_retry_and_given_up_after_n_runs(tmp_path):
    corpus = docs("unavailablex1", "unavailable", good=1)
    with FaultServer() as server:
        cfg = config("gemini", server, max_attempts=1, max_failed_runs=2)
        first = annotate(corpus, TASK, cfg, tmp_path, progress=False)
        second = annotate(corpus, TASK, cfg, tmp_path, progress=False)
        third = annotate(corpus, TASK, cfg, tmp_path, progress=False)
        requests_d1 = sum(1 for e in server.log if e["doc"] == "d1")
    assert (first.failed, second.failed) == (2, 1)
    records, failures = outcome(tmp_path)
    assert set(records) == {"d0", "d2"} and set(failures) == {"d1"}  # d0's failure pruned
    assert len(read(tmp_path / f"{TASK}.failures.jsonl")) == 2  # d1 failed in two runs
    assert third.given_up == 1 and third.requests == 0 and requests_d1 == 2


def test_duplicate_ids_are_annotated_once_with_a_warning(tmp_path, caplog):
    corpus = docs(good=3)
    with FaultServer() as server:
        summary = annotate(
            [*corpus, corpus[0], corpus[1]],
            TASK,
            config("gemini", server),
            tmp_path,
            progress=False,
        )
    records, _ = outcome(tmp_path)
    assert len(records) == 3 and summary.duplicate_ids == 2
    assert "repeat an id" in caplog.text


def test_max_cost_stops_before_exceeding_and_a_rerun_continues(tmp_path):
    corpus = docs(good=30)
    cfg_kw = dict(concurrency=1, max_attempts=1)
    with FaultServer() as server:
        cfg = config("gemini", server, **cfg_kw)
        budget = Budget(0.008)
        first = annotate(corpus, TASK, cfg, tmp_path, progress=False, budget=budget)
        assert budget.refused and 0 < first.annotated < 30
        assert first.cost_usd <= 0.008 and first.not_started == 30 - first.annotated
        second = annotate(corpus, TASK, cfg, tmp_path, progress=False)
    records, _ = outcome(tmp_path)
    assert len(records) == 30 and second.cached == first.annotated
    usage = json.loads((tmp_path / "usage.json").read_text())
    assert usage["tasks"][TASK]["requests"] == 30 == len(server.log)
    assert usage["tasks"][TASK]["cost_usd"] == pytest.approx(first.cost_usd + second.cost_usd)


def test_cli_prints_costs_summed_over_tasks_and_exits_3_at_the_budget(tmp_path, repo_root):
    data = tmp_path / "c.jsonl"
    write_documents(docs(good=20), data)
    config_file = tmp_path / "priced.yaml"
    config_file.write_text(
        default_config_path("gemini").read_text()
        + "\nprice_per_million_tokens: {input: 1.0, output: 10.0}\n"
    )
    with FaultServer() as server:
        args = [
            "annotate",
            str(data),
            "--config",
            str(config_file),
            "--base-url",
            server.url,
            "--model",
            "gemini-test",
            "--concurrency",
            "1",
            "-o",
            str(tmp_path / "out"),
        ]
        capped = CliRunner().invoke(cli, [*args, "--max-cost", "0.008"])
        full = CliRunner().invoke(cli, args)
    assert capped.exit_code == 3 and "budget reached" in capped.output, capped.output
    assert full.exit_code == 0 and "all tasks, this run" in full.output, full.output
    usage = json.loads((tmp_path / "out" / "usage.json").read_text())
    assert set(usage["tasks"]) == {"educational_value", "linguistic_quality"}
    assert usage["all_tasks"]["requests"] == 40 == len(server.log)


def test_an_interrupted_run_still_reports_what_it_did(tmp_path):
    corpus = docs("key_invalid", good=2)
    with FaultServer() as server:
        with pytest.raises(AnnotationStopped) as stop:
            annotate(
                corpus, TASK, config("gemini", server, concurrency=1), tmp_path, progress=False
            )
    assert stop.value.exit_code == 1 and stop.value.summary.requests >= 1
    assert json.loads((tmp_path / "usage.json").read_text())["tasks"][TASK]["requests"] >= 1


def test_a_jury_of_two_servers_gives_agreement_and_consensus_that_train_reads(tmp_path, repo_root):
    from curate.classify.data import LabelReport, read_annotations

    corpus = [
        Document(id=f"d{i}", lang="nb", source="t", text=f"DOC=d{i} SCORE={i % 6} Fjorden.")
        for i in range(12)
    ]
    data = tmp_path / "c.jsonl"
    write_documents(corpus, data)
    kind = FaultServer()
    harsh = FaultServer(shift={d: -2 for d in ("d3", "d4", "d9", "d10")})  # 3,4 -> 1,2
    with kind, harsh:
        configs = []
        for name, server in (("kind", kind), ("harsh", harsh)):
            path = tmp_path / f"{name}.yaml"
            path.write_text(
                default_config_path("gemini").read_text()
                + f"\nbase_url: {server.url}\nmodel: gemini-{name}\n"
            )
            configs += ["--annotator", str(path)]
        out = tmp_path / "out"
        result = CliRunner().invoke(
            cli, ["annotate", str(data), "--task", TASK, *configs, "-o", str(out)]
        )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "consensus" / "agreement.json").read_text())[TASK]
    (pair,) = report["pairs"]
    assert pair["documents"] == 12 and pair["exact"] == pytest.approx(8 / 12)
    assert 0 < report["krippendorff_alpha_ordinal"] < 1 and pair["qwk"] < 1
    assert (out / "consensus" / f"agreement_{TASK}.png").stat().st_size > 0
    labels = read_annotations([out / "consensus"], TASK, LabelReport())
    assert len(labels) == 12
    # medians 2 (of 3, 1) and 3 (of 4, 2): a jury in doubt does not promote
    assert [labels[d][0].score for d in ("d3", "d4", "d9", "d10")] == [2, 3, 2, 3]
    assert labels["d5"][0].score == 5 and labels["d5"][0].annotator["backend"] == "jury"
    strict = CliRunner().invoke(
        cli,
        [
            "agreement",
            str(out / "kind"),
            str(out / "harsh"),
            "--task",
            TASK,
            "--max-spread",
            "1",
            "-o",
            str(tmp_path / "strict"),
        ],
    )
    assert strict.exit_code == 0 and "4 left out" in strict.output, strict.output


def test_batch_mode_submits_once_resumes_polling_and_collects_into_the_same_records(tmp_path):
    from curate.annotate.batch import annotate_batch

    corpus = docs("batch_item_error", "score_nan", good=6)
    with FaultServer() as server:
        server.polls_until_done = 3
        cfg = config("gemini", server, batch_size=5, batch_poll_s=0.05, batch_max_wait_s=0)
        first = annotate_batch(corpus, TASK, cfg, tmp_path, progress=False)
        assert len(server.jobs) == 2 and first.annotated == 0 and first.not_started == 8
        jobs = json.loads((tmp_path / f"{TASK}.batch_jobs.json").read_text())
        assert [j["name"] for j in jobs] == ["batches/job1", "batches/job2"]
        # a restarted process polls the same jobs: nothing is submitted twice
        cfg.batch_max_wait_s = 30
        second = annotate_batch(corpus, TASK, cfg, tmp_path, progress=False)
        assert len(server.jobs) == 2 and len(server.log) == 8
        third = annotate_batch(corpus, TASK, cfg, tmp_path, progress=False)
    records, failures = outcome(tmp_path)
    assert set(records) == {f"d{i}" for i in range(2, 8)}
    assert {r["mode"] for r in records.values()} == {"batch"}
    assert "batch item error" in failures["d0"]["reason"]
    assert "not a finite number" in failures["d1"]["reason"]
    assert second.annotated == 6 and second.failed == 2
    # half the online price: 7 answers (the item error bills nothing) of 120 + 9 tokens
    assert second.cost_usd == pytest.approx(7 * (120 * 1 + 9 * 10) / 1e6 / 2)
    # a rerun asks again only for the two failed documents, as online
    assert third.cached == 6 and third.requests == 2 and len(server.jobs) == 3


def test_cli_batch_flag_collects_a_finished_job(tmp_path):
    data = tmp_path / "c.jsonl"
    write_documents(docs(good=3), data)
    with FaultServer() as server:
        server.polls_until_done = 0
        result = CliRunner().invoke(
            cli,
            [
                "annotate",
                str(data),
                "--task",
                TASK,
                "--batch",
                "--base-url",
                server.url,
                "--model",
                "gemini-test",
                "-o",
                str(tmp_path / "out"),
            ],
        )
    assert result.exit_code == 0, result.output
    records, _ = outcome(tmp_path / "out")
    assert len(records) == 3 and len(server.jobs) == 1


def test_ctrl_c_prints_what_was_done_and_paid_and_exits_130(tmp_path, repo_root):
    import os
    import signal
    import subprocess

    from curate.annotate.fake_server import FakeLLMServer

    data = tmp_path / "c.jsonl"
    write_documents(docs(good=200), data)
    out = tmp_path / "out"
    with FakeLLMServer(latency_s=0.5) as server:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "curate"),
                "annotate",
                str(data),
                "--base-url",
                server.url,
                "--concurrency",
                "4",
                "-o",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "GEMINI_API_KEY": KEY},
            cwd=repo_root,
            # a suite started with SIGINT ignored (`nohup make test &`) passes SIG_IGN on to
            # its children: a user's Ctrl-C reaches a foreground command
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.time() + 60
        while not read(out / f"{TASK}.jsonl") and time.time() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "annotation stopped: interrupted" in output and "cost $" in output
    usage = json.loads((out / "usage.json").read_text())["tasks"][TASK]
    assert usage["requests"] >= len(read(out / f"{TASK}.jsonl")) > 0


def test_agreement_and_batch_refuse_what_they_cannot_do(tmp_path):
    one = tmp_path / "only"
    one.mkdir()
    result = CliRunner().invoke(cli, ["agreement", str(one), "-o", str(tmp_path / "a")])
    assert result.exit_code != 0 and "at least two annotators" in result.output
    data = tmp_path / "c.jsonl"
    write_documents(docs(good=1), data)
    result = CliRunner().invoke(
        cli,
        [
            "annotate",
            str(data),
            "--backend",
            "openai",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--batch",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert (
        result.exit_code != 0
        and "--batch needs a backend with a batch mode: gemini" in result.output
    )
