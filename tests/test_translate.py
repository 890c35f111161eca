"""`curate translate` against the fault server: every row translated or recorded as a failure
with its reason, nothing paid twice through kill -9 and rerun, malformed translations caught."""

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
from llm_fault_server import USAGE, FaultServer

from curate.annotate import load_config
from curate.annotate.config import default_config_path
from curate.cli import cli
from curate.posttrain.translate import translate
from curate.posttrain.translation_checks import CheckSettings, translation_problems

SECRET = "sk-test-SECRET-translate-51c2"
PAIRS = [
    ("The weather was cold and windy all week.", "Været var kaldt og vindfullt hele uken."),
    ("We walked to the lake and ate our lunch there.", "Vi gikk til vannet og spiste lunsj der."),
    ("My sister reads a new book every month.", "Søsteren min leser en ny bok hver måned."),
    ("The train to the city leaves at eight.", "Toget til byen går klokken åtte."),
    ("Children learn quickly when they play outside.", "Barn lærer raskt når de leker ute."),
    ("Please close the window before you leave.", "Vær så snill å lukke vinduet før du går."),
    ("The old bridge was repaired last summer.", "Den gamle brua ble reparert i fjor sommer."),
    ("He cooks fish with potatoes on Fridays.", "Han lager fisk med poteter på fredager."),
]


def pair_text(i: int, j: int, lang: int) -> str:
    return f"{PAIRS[i][lang]} {PAIRS[j][lang]}"


def sft_rows(n: int) -> tuple[list[dict], dict[str, str]]:
    """n SFT rows with distinct texts, and the good translation of each text."""
    combos = [(i, j) for i in range(8) for j in range(8) if i != j]
    rows, table = [], {}
    for k in range(n):
        (a, b), (c, d) = combos[k], combos[-1 - k]
        user, reply = pair_text(a, b, 0), pair_text(c, d, 0)
        table[user], table[reply] = pair_text(a, b, 1), pair_text(c, d, 1)
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        rows.append({"id": f"r{k}", "messages": messages})
    return rows, table


def write_rows(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)


def config(server: FaultServer, **kw):
    return load_config(
        default_config_path("gemini"),
        base_url=server.url,
        requests_per_minute=60000,
        max_attempts=3,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        **kw,
    )


def test_checks_catch_what_a_bad_translation_loses():
    s = CheckSettings()
    src = "Run this:\n\n```bash\nls -la\n```\n\n- one item\n- two items\n\nHello {name}, see https://x.no"
    good = "Kjør dette:\n\n```bash\nls -la\n```\n\n- ett punkt\n- to punkter\n\nHei {name}, se https://x.no"
    assert translation_problems(src, good, "nb", s) == []
    lost_code = good.replace("ls -la", "ls")
    assert "code block changed or lost" in translation_problems(src, lost_code, "nb", s)
    one_item = good.replace("- to punkter\n", "")
    assert "list items not kept" in translation_problems(src, one_item, "nb", s)
    renamed = good.replace("{name}", "{navn}")
    assert "placeholders not kept" in translation_problems(src, renamed, "nb", s)
    english = "The weather was cold and windy all week, and we stayed inside to read."
    norsk = "Været var kaldt og vindfullt hele uken, så vi ble inne og leste."
    assert translation_problems(english, norsk, "nb", s) == []
    assert any(
        p.startswith("language: en") for p in translation_problems(english, english, "nb", s)
    )
    assert any(
        p.startswith("untranslated") for p in translation_problems(english, english, "nb", s)
    )
    refusal = "I'm sorry, but I cannot translate this text for you today, it is too long."
    assert "refusal or commentary in the translation" in translation_problems(
        english, refusal, "nb", s
    )
    assert any(p.startswith("length ratio") for p in translation_problems(english, "Vær.", "nb", s))


def test_checks_pass_legitimate_translations():
    s = CheckSettings()
    pairs = [
        ("On May 17 Norway celebrates its constitution day with parades.",
         "17. mai feirer Norge grunnlovsdagen med tog og flagg."),
        (r"The area is $\text{length} \times \text{width}$ in square metres.",
         r"Arealet er $\text{lengde} \times \text{bredde}$ i kvadratmeter."),
        ("Read more at https://example.org/guide.", "Les mer på https://example.org/guide ."),
        ("I can't help you with that, because it could hurt someone badly.",
         "Jeg kan ikke hjelpe deg med det, fordi det kan skade noen alvorlig."),
        ("[EDIT] The meeting moved to Tuesday afternoon at the library.",
         "[REDIGERT] Møtet er flyttet til tirsdag ettermiddag på biblioteket."),
    ]  # fmt: skip
    for source, target in pairs:
        assert translation_problems(source, target, "nb", s) == [], source


def test_every_row_is_translated_or_failed_with_its_reason(tmp_path):
    rows, table = sft_rows(6)
    code = "Use:\n\n```python\nprint(1)\n```\n\nThat prints one. FAULT=drop_code"
    rows[1]["messages"][1]["content"] = pair_text(0, 7, 0) + " FAULT=refusal"
    rows[2]["messages"][1]["content"] = code
    rows[3]["messages"][1]["content"] = pair_text(1, 7, 0) + " FAULT=not_json"
    rows[4]["messages"][1]["content"] = pair_text(2, 7, 0) + " FAULT=untranslated"
    dpo = {"id": "p0", "prompt": PAIRS[0][0], "chosen": PAIRS[1][0], "rejected": PAIRS[2][0]}
    table.update({p[0]: p[1] for p in PAIRS})
    src = write_rows([*rows, dpo, {"id": "bad", "text": "no messages"}], tmp_path / "in.jsonl")
    out = tmp_path / "nb.jsonl"
    with FaultServer(translations=table) as server:
        result = translate([src], "en", "nb", config(server), out, progress=False)
    written = {r["translation"]["source_id"]: r for r in read(out)}
    failures = read(tmp_path / "nb.failures.jsonl")
    failed = {f.get("id") or f["where"]: f for f in failures}
    assert set(written) == {"r0", "r5", "p0"}
    assert set(failed) == {"r1", "r2", "r3", "r4", f"{src}:8"}  # 0 rows lost
    reasons = {k: " ".join(f.get("reasons", {}).values()) for k, f in failed.items()}
    assert "refusal" in reasons["r1"] and "code block" in reasons["r2"]
    assert "unparseable" in reasons["r3"] and "untranslated" in reasons["r4"]
    assert "neither an SFT row" in failed[f"{src}:8"]["reason"]
    r0 = written["r0"]
    assert [m["role"] for m in r0["messages"]] == ["user", "assistant"]
    assert r0["messages"][0]["content"] == table[rows[0]["messages"][0]["content"]]
    assert written["p0"]["chosen"] == PAIRS[1][1] and written["p0"]["lang"] == "nb"
    assert result.rows_written == 3 and result.rows_failed == 4 and result.bad_rows == 1
    assert result.summary.cost_usd == pytest.approx(
        result.summary.requests * (USAGE["prompt"] * 0.30 + USAGE["output"] * 2.50) / 1e6
    )


def test_blank_texts_are_kept_unrequested_and_unreadable_lines_are_failures(tmp_path):
    rows, table = sft_rows(2)
    rows[0]["messages"].insert(0, {"role": "system", "content": "  "})
    src = write_rows(rows, tmp_path / "in.jsonl")
    with open(src, "a") as fh:
        fh.write("{not json\n")
    out = tmp_path / "nb.jsonl"
    with FaultServer(translations=table) as server:
        result = translate([src], "en", "nb", config(server), out, progress=False)
        assert len(server.log) == 4  # the blank system text is not sent
    written = read(out)
    assert written[0]["messages"][0] == {"role": "system", "content": "  "}
    assert result.rows_written == 2 and result.bad_rows == 1
    assert read(tmp_path / "nb.failures.jsonl")[0]["where"].endswith("in.jsonl:3")


def test_a_changed_source_text_is_never_written_with_its_old_translation(tmp_path):
    rows, table = sft_rows(2)
    src = write_rows(rows, tmp_path / "in.jsonl")
    out = tmp_path / "nb.jsonl"
    with FaultServer(translations=table) as server:
        translate([src], "en", "nb", config(server), out, progress=False)
        rows[1]["messages"][1]["content"] += " FAULT=refusal"  # same id, new text: it fails
        write_rows(rows, src)
        again = translate([src], "en", "nb", config(server), out, progress=False)
    assert [r["id"] for r in read(out)] == ["r0-nb"]
    assert again.rows_failed == 1 and "refusal" in str(read(tmp_path / "nb.failures.jsonl"))


def test_resume_after_kill_9_loses_no_row_and_pays_no_text_twice(tmp_path):
    rows, table = sft_rows(30)
    src = write_rows(rows, tmp_path / "in.jsonl")
    out = tmp_path / "fi" / "nb.jsonl"
    cache = tmp_path / "fi" / "nb.cache" / "translate_en_nb.jsonl"
    env = {**os.environ, "GEMINI_API_KEY": SECRET}
    with FaultServer(latency_s=0.15, translations=table) as server:
        cmd = [sys.executable, "-m", "curate.cli", "translate", str(src), "--to", "nb"]
        cmd += ["--base-url", server.url, "--concurrency", "4", "--rpm", "60000", "-o", str(out)]
        with open(tmp_path / "run1.log", "w") as fh:
            proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
            deadline = time.time() + 60
            while time.time() < deadline and (not cache.exists() or len(read(cache)) < 12):
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        done_before = {r["text_sha256"] for r in read(cache)}
        assert 12 <= len(done_before) < 60
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        per_text = Counter(e["doc"] for e in server.log)
    assert "60 to translate" in second.stdout and "30 translated" in second.stdout
    assert Counter(r["translation"]["source_id"] for r in read(out)) == Counter(
        f"r{k}" for k in range(30)
    )
    assert all(per_text[h] == 1 for h in done_before)  # finished texts never re-requested
    assert sum(per_text.values()) <= 60 + 4  # only those in flight at the kill, again
    for text in ((tmp_path / "run1.log").read_text(), second.stdout, second.stderr):
        assert SECRET not in text


def test_fake_llm_demo_rows_are_marked_stand_ins(tmp_path, repo_root):
    out = tmp_path / "nb.jsonl"
    result = CliRunner().invoke(
        cli,
        ["translate", str(repo_root / "data/lm/sft_en_demo.jsonl"), "--to", "nb", "--fake-llm"]
        + ["--rpm", "60000", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "FAKE LLM" in result.output and "checks off: language" in result.output
    rows = read(out)
    assert len(rows) == 16 and all(r["translation"]["stand_in"] for r in rows)


def test_batch_mode_translates_through_one_job_and_a_rerun_pays_nothing(tmp_path):
    rows, table = sft_rows(4)
    src = write_rows(rows, tmp_path / "in.jsonl")
    out = tmp_path / "nb.jsonl"
    with FaultServer(translations=table) as server:
        server.polls_until_done = 0
        cfg = config(server, batch_poll_s=0.05)
        first = translate([src], "en", "nb", cfg, out, batch=True, progress=False)
        again = translate([src], "en", "nb", cfg, out, batch=True, progress=False)
        assert len(server.jobs) == 1 and len(server.log) == 8
    assert first.rows_written == 4 and again.rows_written == 4
    assert again.summary.cached == 8 and again.summary.requests == 0
    # batch bills half the online price
    per_request = (USAGE["prompt"] * 0.30 + USAGE["output"] * 2.50) / 1e6
    assert first.summary.cost_usd == pytest.approx(8 * per_request / 2)


def test_max_cost_stops_with_exit_3_and_a_rerun_finishes(tmp_path):
    rows, table = sft_rows(10)
    src = write_rows(rows, tmp_path / "in.jsonl")
    out = tmp_path / "nb.jsonl"
    with FaultServer(translations=table) as server:
        args = ["translate", str(src), "--to", "nb", "--base-url", server.url]
        args += ["--concurrency", "1", "-o", str(out)]
        # a request is reserved at its whole output budget: 8192 tokens x 6 attempts = $0.12
        stopped = CliRunner().invoke(cli, [*args, "--max-cost", "0.1"])
        assert stopped.exit_code == 3, stopped.output
        assert "budget reached" in stopped.output
        partial = len(read(out))
        finished = CliRunner().invoke(cli, [*args, "--max-cost", "100"])
    assert finished.exit_code == 0, finished.output
    assert partial == 0 and len(read(out)) == 10
    assert "10 not finished" in stopped.output


def test_a_rejected_key_stops_the_run_with_exit_1(tmp_path):
    rows, _ = sft_rows(3)
    src = write_rows(rows, tmp_path / "in.jsonl")
    with FaultServer(always="key_invalid") as server:
        result = CliRunner().invoke(
            cli,
            ["translate", str(src), "--to", "sv", "--base-url", server.url, "-o",
             str(tmp_path / "sv.jsonl")],
        )  # fmt: skip
    assert result.exit_code == 1 and "translation stopped" in result.output
    assert SECRET not in result.output
