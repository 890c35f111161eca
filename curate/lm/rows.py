"""The SFT and DPO row formats, checked without torch (curate translate and curate mix check
rows exactly as the LM stage will): SFT rows are `{"messages": [{"role", "content"}, ...]}`
ending on an assistant turn; DPO rows are `{"prompt", "chosen", "rejected"}` (prompt: text or
a list of messages; chosen and rejected: the assistant's replies, different, not empty)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.documents import ReadReport, iter_raw_rows, list_input_files
from curate.errors import MissingInput

ROLES = {"system", "user", "assistant"}


def read_rows(paths: list[str | Path]) -> tuple[list[tuple[str, Any]], ReadReport]:
    """Every decoded row as ("file:line", row); unreadable lines go to the report."""
    report = ReadReport()
    files = list_input_files(paths)
    if not files:
        raise MissingInput(f"no input files under {[str(p) for p in paths]}")
    rows = []
    for path in files:
        for line, row in iter_raw_rows(path, report):
            rows.append((f"{path}:{line}", row))
    return rows, report


def check_messages(messages: Any) -> str | None:
    """The reason a conversation cannot train SFT, or None."""
    if not isinstance(messages, list) or not messages:
        return "no messages"
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return "message with a missing or unknown role"
        if not isinstance(m.get("content"), str):
            return "message without text content"
    if messages[-1]["role"] != "assistant":
        return "conversation does not end on an assistant turn"
    return None


def prompt_messages(prompt: Any) -> list[dict] | None:
    if isinstance(prompt, str) and prompt.strip():
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, list) and prompt and check_messages([*prompt, assistant("x")]) is None:
        return prompt
    return None


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def check_pair(row: Any) -> str | None:
    if not isinstance(row, dict):
        return "not an object"
    if prompt_messages(row.get("prompt")) is None:
        return "missing or malformed prompt"
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if not isinstance(chosen, str) or not isinstance(rejected, str) or not chosen or not rejected:
        return "chosen and rejected must be non-empty strings"
    if chosen.strip() == rejected.strip():
        return "chosen == rejected (no preference to learn)"
    return None


TextPath = tuple[Any, ...]  # where a text sits in a row: ("messages", 2, "content"), ("chosen",)


def row_texts(row: Any) -> tuple[str, list[TextPath]] | str:
    """("sft" or "dpo", where each of the row's texts sits), or why the LM stage would skip
    the row."""
    if isinstance(row, dict) and "messages" in row:
        reason = check_messages(row["messages"])
        if reason:
            return reason
        return "sft", [("messages", i, "content") for i in range(len(row["messages"]))]
    if isinstance(row, dict) and "prompt" in row:
        reason = check_pair(row)
        if reason:
            return reason
        prompt = row["prompt"]
        paths = [("prompt",)] if isinstance(prompt, str) else [
            ("prompt", i, "content") for i in range(len(prompt))
        ]  # fmt: skip
        return "dpo", [*paths, ("chosen",), ("rejected",)]
    return "neither an SFT row (messages) nor a DPO row (prompt, chosen, rejected)"


def get_text(row: dict, path: TextPath) -> str:
    for key in path:
        row = row[key]
    return row


def set_text(row: dict, path: TextPath, value: str) -> None:
    for key in path[:-1]:
        row = row[key]
    row[path[-1]] = value
