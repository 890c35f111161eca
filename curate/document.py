"""The Document every stage passes around: id, text, declared language, source and metadata.
Reading and writing them is curate.documents'; mapping each source schema's rows onto them is
curate.sources'."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    id: str
    text: str
    lang: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
