"""Files that ship inside the package (prompts, default annotation configs, the reference
split), found through importlib.resources so `curate` works from any directory after a
non-editable install, not only from a source checkout."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_file(*parts: str) -> Path:
    """`curate/resources/<parts...>` wherever the package is installed."""
    return Path(str(files("curate").joinpath("resources", *parts)))
