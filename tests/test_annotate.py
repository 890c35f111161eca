import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm_fault_server import FaultServer

from curate.annotate import annotate, default_config_path, load_config
from curate.annotate.parse import parse_answer
from curate.annotate.prompts import load_prompt
from curate.annotate.sampling import stratified_sample
from curate.cli import cli
from curate.documents import Document, write_documents

SECRET = "sk-test-SECRET-do-not-log-7f3a"


@pytest.fixture(autouse=True)
def api_keys(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def docs(n: int, prefix: str = "d") -> list[Document]:
    return [
        Document(
            id=f"{prefix}{i}",
            lang="nb",
            source="test",
            text=f"Dokument {i} handler om fjorder. Isen grov ut dalene. " * (i % 5 + 1),
        )
        for i in range(n)
    ]


def config(backend: str, server: FaultServer, **kw):
    base = server.url if backend == "gemini" else server.url + "/v1"
    defaults = dict(
        base_url=base,
        concurrency=8,
        requests_per_minute=60000,
        timeout_s=2,
        max_attempts=3,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    defaults.update(kw)
    return load_config(default_config_path(backend), **defaults)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(autouse=True)
def in_repo(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)


@pytest.mark.parametrize("backend", ["gemini", "openai"])
def test_annotates_every_document_with_a_complete_record(tmp_path, backend):
    with FaultServer() as server:
        summary = annotate(
            docs(12), "educational_value", config(backend, server), tmp_path, progress=False
        )
        assert {e["api_key"] for e in server.log} == (
            {SECRET} if backend == "gemini" else {f"Bearer {SECRET}"}
        )
    assert (summary.annotated, summary.failed, summary.requests) == (12, 0, 12)
    rows = read(tmp_path / "educational_value.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(f"d{i}" for i in range(12))
    prompt = load_prompt("educational_value", "nb")
    for r in rows:
        assert 0 <= r["score"] <= 5 and r["rationale"]
        assert r["annotator"] == {
            "backend": backend,
            "model": r["annotator"]["model"],
            "prompt_sha256": prompt.sha256,
            "prompt_version": 1,
            "instruction_language": "nb",
        }
        assert r["usage"]["input_tokens"] > 0 and r["finish_reason"] in ("STOP", "stop")
    assert summary.cost_usd >= 0
    for f in tmp_path.iterdir():
        assert SECRET not in f.read_text()


FAULT_DOCS = {
    "r429": ("FAULT=429x2", "ok"),
    "r500": ("FAULT=500x1", "ok"),
    "r503": ("FAULT=503x2", "ok"),
    "slow": ("FAULT=timeoutx1", "ok"),
    "down": ("FAULT=500", "gave up after 3 attempts"),
    "blocked": ("FAULT=blocked", "prompt blocked: SAFETY"),
    "safety": ("FAULT=safety", "answer blocked: finishReason SAFETY"),
    "recite": ("FAULT=recitation", "answer blocked: finishReason RECITATION"),
    "maxtok": ("FAULT=max_tokens", "answer truncated"),
    "cut": ("FAULT=truncated", "regex"),
    "prose": ("FAULT=nonjson", "regex"),
    "garbage": ("FAULT=garbage", "unparseable answer"),
    "range": ("FAULT=range", "score out of range"),
}


@pytest.mark.parametrize("backend", ["gemini", "openai"])
def test_every_fault_ends_as_an_annotation_or_a_failure_with_its_reason(tmp_path, backend):
    corpus = [
        Document(id=k, lang="nb", text=f"Tekst om {k}. {marker} Slutt på teksten.")
        for k, (marker, _) in FAULT_DOCS.items()
    ]
    with FaultServer(retry_delay_s=0.3, timeout_sleep_s=1.5) as server:
        cfg = config(backend, server, timeout_s=0.6)
        summary = annotate(corpus, "linguistic_quality", cfg, tmp_path, progress=False)
        log = list(server.log)
    done = {r["id"]: r for r in read(tmp_path / "linguistic_quality.jsonl")}
    failed = {r["id"]: r for r in read(tmp_path / "linguistic_quality.failures.jsonl")}
    assert len(done) + len(failed) == len(corpus) == summary.annotated + summary.failed
    for doc_id, (_, expected) in FAULT_DOCS.items():
        if expected == "ok":
            assert doc_id in done and done[doc_id]["parsed_by"] == "json", doc_id
        elif expected == "regex":
            assert done[doc_id]["parsed_by"] == "regex", doc_id
        else:
            if backend == "openai" and "blocked" in expected:  # the protocol has one reason
                expected = "answer blocked: finishReason content_filter"
            assert expected in failed[doc_id]["reason"], (doc_id, failed[doc_id])
    # the server's retry delay (0.3 s) is honoured between the two 429s and the success
    r429 = sorted(e["t"] for e in log if e["doc"] == _doc_key(corpus, "r429"))
    assert len(r429) == 3 and min(b - a for a, b in zip(r429, r429[1:], strict=False)) >= 0.3
    assert summary.retries >= 2 + 1 + 2 + 1 + 2


def _doc_key(corpus, doc_id):
    import hashlib

    text = next(d.text for d in corpus if d.id == doc_id)
    return hashlib.sha256(text.encode()).hexdigest()


def test_failures_are_retried_on_the_next_run_and_finished_ones_are_not(tmp_path):
    corpus = docs(6) + [Document(id="b", lang="nb", text="Kort tekst. FAULT=blockedx1 Ferdig.")]
    with FaultServer() as server:
        first = annotate(
            corpus, "educational_value", config("gemini", server), tmp_path, progress=False
        )
        second = annotate(
            corpus, "educational_value", config("gemini", server), tmp_path, progress=False
        )
        per_doc = Counter(e["doc"] for e in server.log)
    assert (first.annotated, first.failed) == (6, 1)
    assert (second.cached, second.annotated, second.failed, second.requests) == (6, 1, 0, 1)
    assert max(per_doc.values()) == 2 and sum(per_doc.values()) == 8
    assert Counter(r["id"] for r in read(tmp_path / "educational_value.jsonl")) == Counter(
        d.id for d in corpus
    )


def test_identical_texts_are_paid_for_once(tmp_path):
    a, b = (
        Document("a", "Samme tekst. To ganger.", "nb"),
        Document("b", "Samme tekst. To ganger.", "nb"),
    )
    with FaultServer() as server:
        summary = annotate(
            [a, b], "educational_value", config("gemini", server), tmp_path, progress=False
        )
    assert summary.requests == 1
    assert sorted(r["id"] for r in read(tmp_path / "educational_value.jsonl")) == ["a", "b"]


def test_a_changed_prompt_or_model_is_a_cache_miss(tmp_path):
    with FaultServer() as server:
        annotate(docs(3), "educational_value", config("gemini", server), tmp_path, progress=False)
        again = annotate(
            docs(3),
            "educational_value",
            config("gemini", server, model="other"),
            tmp_path,
            progress=False,
        )
        nn = annotate(
            docs(3),
            "educational_value",
            config("gemini", server, instruction_language="nn"),
            tmp_path,
            progress=False,
        )
    assert again.requests == 3 and nn.requests == 3


def test_resume_after_kill_9_gives_one_annotation_per_document(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_documents(docs(40), corpus)
    out = tmp_path / "out"
    env = {**os.environ, "GEMINI_API_KEY": SECRET}
    with FaultServer(latency_s=0.15) as server:
        cmd = [
            sys.executable,
            "-m",
            "curate.cli",
            "-v",
            "annotate",
            str(corpus),
            "--task",
            "educational_value",
            "--base-url",
            server.url,
            "--concurrency",
            "4",
            "--rpm",
            "60000",
            "-o",
            str(out),
        ]
        log1 = tmp_path / "run1.log"
        with open(log1, "w") as fh:
            proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
            path = out / "educational_value.jsonl"
            deadline = time.time() + 60
            while time.time() < deadline and len(read(path)) < 10:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        first_ids = {r["id"] for r in read(path)}
        assert 10 <= len(first_ids) < 40
        log2 = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        per_doc = Counter(e["doc"] for e in server.log)
    rows = read(out / "educational_value.jsonl")
    assert Counter(r["id"] for r in rows) == Counter(f"d{i}" for i in range(40))
    assert "already annotated (not re-requested)" in log2.stdout
    # a finished document is never requested again; only those in flight at the kill are
    assert sum(per_doc.values()) <= 40 + 4
    by_hash = {r["text_sha256"]: r["id"] for r in rows}
    assert all(per_doc[h] == 1 for h, i in by_hash.items() if i in first_ids)
    for text in (log1.read_text(), log2.stdout, log2.stderr):
        assert SECRET not in text


def test_cli_with_fake_llm_labels_itself(tmp_path, repo_root):
    result = CliRunner().invoke(
        cli,
        [
            "annotate",
            str(repo_root / "data" / "demo"),
            "--sample",
            "30",
            "--task",
            "linguistic_quality",
            "--fake-llm",
            "--rpm",
            "60000",
            "-o",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "FAKE LLM" in result.output and "3 bad input rows set aside" in result.output
    rows = read(tmp_path / "linguistic_quality.jsonl")
    assert len(rows) == 30 and {r["annotator"]["model"] for r in rows} == {"fake-llm-heuristic"}


def test_unknown_model_stops_the_run_with_a_clear_error(tmp_path):
    with FaultServer() as server:
        result = CliRunner().invoke(
            cli,
            [
                "annotate",
                "data/demo/plain",
                "--backend",
                "openai",
                "--base-url",
                server.url + "/wrong",
                "-o",
                str(tmp_path),
            ],
        )
    assert result.exit_code != 0 and "annotation stopped: http 404" in result.output


def test_missing_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    result = CliRunner().invoke(cli, ["annotate", "data/demo/plain", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "set the environment variable GEMINI_API_KEY" in result.output


def test_config_typo_names_the_key_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown keys \['concurency'\]; allowed: .*concurrency"):
        load_config(None, concurency=4)


def test_stratified_sample_is_seeded_and_proportional():
    pool = [
        Document(f"{s}{lang}{i}", "t", lang, s)
        for s, lang, n in [
            ("ncc", "nb", 600),
            ("hplt", "nb", 300),
            ("hplt", "sv", 90),
            ("cx", "fi", 10),
        ]
        for i in range(n)
    ]
    a = stratified_sample(pool, 100, seed=1)
    assert [d.id for d in a] == [d.id for d in stratified_sample(pool, 100, seed=1)]
    assert [d.id for d in a] != [d.id for d in stratified_sample(pool, 100, seed=2)]
    counts = Counter((d.source, d.lang) for d in a)
    assert len(a) == 100 and counts == {
        ("ncc", "nb"): 60,
        ("hplt", "nb"): 30,
        ("hplt", "sv"): 9,
        ("cx", "fi"): 1,
    }
    assert len(stratified_sample(pool[:5], 100)) == 5


def test_parse_answer_json_regex_and_errors():
    assert parse_answer('{"score": 4, "rationale": "God."}', (0, 5)).score == 4
    assert parse_answer('```json\n{"score": 3.0, "rationale": "x"}\n```', (0, 5)).score == 3
    regex = parse_answer("Score: 2 fordi teksten er kort", (0, 5))
    assert (regex.score, regex.method) == (2, "regex")
    assert "out of range" in parse_answer('{"score": 7}', (0, 5)).error
    assert "out of range" in parse_answer('{"score": 2.5}', (0, 5)).error
    assert "unparseable" in parse_answer("Ingen vurdering.", (0, 5)).error
    assert parse_answer("", (0, 5)).error == "empty answer"


def test_prompt_renders_braces_and_language_and_hash_tracks_template():
    nb = load_prompt("linguistic_quality", "nb")
    text = nb.render("kode { x: 1 } og {document}", "nn")
    assert "kode { x: 1 } og {document}" in text and "norsk nynorsk" in text
    assert nb.sha256 != load_prompt("linguistic_quality", "nn").sha256
    assert nb.sha256 == load_prompt("linguistic_quality", "nb").sha256
