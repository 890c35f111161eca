"""What a config's keys mean, for `--help`: each dataclass field's note, read from its class's
source, and every dotted key a `--set` can reach with its default.

A field's note is the string literal right after it (litgpt's attribute docstrings), else the
comment on its line, else the comment lines right above it. Notes stay where a reader of the
code looks for them, and reach `--help` without a second copy.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing
from functools import cache
from typing import Any

from curate.config import section_class


@cache
def field_notes(cls: type) -> dict[str, str]:
    """{field name: its note} of a dataclass (none where its source cannot be read)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0].body
    trailing, alone = comments(source)
    notes = {}
    for node, after in zip(body, [*body[1:], None], strict=True):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            note = str(after.value.value)
        else:
            note = " ".join(trailing.get(n, "") for n in range(node.lineno, node.end_lineno + 1))
            above = []
            line = node.lineno - 1
            while line in alone:
                above.insert(0, alone[line])
                line -= 1
            note = note.strip() or " ".join(above)
        if note.strip():
            notes[node.target.id] = " ".join(note.split())
    return notes


def comments(source: str) -> tuple[dict[int, str], dict[int, str]]:
    """({line: comment after code}, {line: comment alone on its line}), 1-based."""
    trailing, alone = {}, {}
    code_lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            (trailing if token.start[0] in code_lines else alone)[token.start[0]] = text
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.update(range(token.start[0], token.end[0] + 1))
    return trailing, alone


def config_keys(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, note, default) for every key of a config dataclass, sections expanded; the
    note is "" where the field has none."""
    hints = typing.get_type_hints(cls)
    notes = field_notes(cls)
    rows = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        section = section_class(hints[f.name])
        if section is not None:
            rows += config_keys(section, f"{key}.")
            continue
        rows.append((key, notes.get(f.name, ""), describe(default_of(f))))
    return rows


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def describe(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "required"
    return f"default: {value if isinstance(value, str) else repr(value)}"


def key_note(cls: type, key: str) -> str | None:
    """One dotted key's note ("" without one); None where the config has no such key."""
    return next((note for k, note, _ in config_keys(cls) if k == key), None)
