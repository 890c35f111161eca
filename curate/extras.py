"""Which optional extra a command needs, and whether it is installed: read from curate's own
package metadata (the extras of pyproject.toml as installed), so the guard and the packaging
are one table and cannot drift."""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata

from curate.errors import CurateError

# distributions whose import name is not their name with '-' as '_'
IMPORT_NAMES = {"google-genai": "google.genai", "scikit-learn": "sklearn"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?[^;]*(?:;\s*(.*))?$")
EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def distributions(extra: str, requires: list[str] | None = None) -> list[str]:
    """The distributions `extra` installs, an extra it includes (curate[lm]) resolved."""
    if requires is None:
        requires = metadata.requires("curate") or []
    found: list[str] = []
    for line in requires:
        name, extras, marker = REQUIREMENT.match(line).groups()
        marked = EXTRA_MARKER.search(marker or "")
        if not marked or marked.group(1) != extra:
            continue
        if name.lower() == "curate":
            for inner in (extras or "").split(","):
                found += distributions(inner.strip(), requires)
        else:
            found.append(name)
    return list(dict.fromkeys(found))


def modules(extra: str) -> list[str]:
    """The import names of what `extra` installs."""
    return [IMPORT_NAMES.get(d.lower(), d.lower().replace("-", "_")) for d in distributions(extra)]


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def require_extra(extra: str) -> None:
    """Stop with the pip command to run when a module of `extra` is not installed."""
    wanted = modules(extra)
    if not wanted:
        raise CurateError(f"curate has no [{extra}] extra (is curate installed with pip?)")
    absent = [m for m in wanted if not installed(m)]
    if absent:
        raise CurateError(
            f"this command needs curate's [{extra}] extra ({', '.join(absent)} not installed): "
            f"pip install 'curate[{extra}]'"
        )
