"""Turn labellers' files into annotation records (curate/annotations.py's format).

Who wrote a label is recorded as it was: `--backend hand` for a person, `--backend helper` with
`--model` for a model-based labelling helper (an LLM agent reading each page against the
guidelines): its labels are a model's labels, never "hand". A labeller's file holds one JSON
line per page read: `id`, `educational_value`, `linguistic_quality`, `rationale`, and for web
pages `lang` (what the labeller read) and `flags` (annotations/guidelines.md). Each file is
named for its labeller (`--labels helper-3=FILE`). The first label of a page is the one
recorded in OUT; a page labelled again by another labeller goes to OUT/second, so
`curate agreement OUT OUT/second` measures the two on the overlap.

    python tools/hand_labels.py --corpus ../shared/web --split web --backend helper \
        --model claude --labels helper-1=/path/labels_1.jsonl ... -o annotations/web --append \
        --created 2026-12-04T00:00:00Z

With `--append` the records already in OUT stay, and a page they hold counts as labelled once.

Scores are copied, never computed: this only attaches the text's sha256, the page's committed
split and the labeller to what a person (or a labelling helper) wrote.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from curate.annotations import AnnotationRecord, iter_records, records_file, write_records
from curate.documents import read_documents, text_sha256

TASKS = ("educational_value", "linguistic_quality")  # the scales the label files carry


def split_of(name: str) -> dict[str, str]:
    if name == "web":
        from curate.web import load_web_split

        return load_web_split()
    from curate.reference import load_split

    return load_split()


def records(
    label: dict, labeller: str, sha: str, split: str, backend: str, model: str | None, created: str
) -> dict[str, dict]:
    return {
        task: AnnotationRecord(
            id=label["id"],
            task=task,
            score=int(label[task]),
            text_sha256=sha,
            rationale=label.get("rationale", ""),
            annotator={
                "backend": backend,
                "model": model,
                "prompt_sha256": None,
                "labeller": labeller,
            },
            lang=label.get("lang"),
            created=created,
            split=split,
            extra={"flags": label["flags"]} if "flags" in label else {},
        )
        for task in TASKS
    }


def read_existing(path: Path) -> list[AnnotationRecord]:
    def refuse(reason: str, where: str) -> None:
        raise SystemExit(f"{where}: {reason}")

    return [record for record, _ in iter_records([path], refuse)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", action="append", required=True, help="LABELLER=FILE")
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--split", choices=["web", "reference"], default="web")
    parser.add_argument("-o", "--out", required=True, type=Path)
    parser.add_argument("--backend", choices=["hand", "helper"], required=True)
    parser.add_argument("--model", help="the helper's model (for --backend helper)")
    parser.add_argument("--append", action="store_true", help="keep the records in OUT")
    parser.add_argument("--created", required=True, help="when the labels were written (ISO 8601)")
    args = parser.parse_args()
    if args.backend == "helper" and not args.model:
        parser.error("--backend helper needs --model: a model's label names its model")
    sha = {d.id: text_sha256(d.text) for d in read_documents([args.corpus], source="curate")}
    split = split_of(args.split)
    first: dict[str, list] = {t: [] for t in TASKS}
    second: dict[str, list] = {t: [] for t in TASKS}
    seen: set[str] = set()
    if args.append:
        for task in TASKS:
            for folder, rows in ((args.out, first[task]), (args.out / "second", second[task])):
                if records_file(folder, task).exists():
                    rows.extend(read_existing(records_file(folder, task)))
        seen = {r.id for r in first[TASKS[0]]}
    for spec in args.labels:
        labeller, path = spec.split("=", 1)
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            label = json.loads(line)
            if label["id"] not in sha:
                raise SystemExit(f"{path}:{n}: page {label['id']} is not in {args.corpus}")
            target = second if label["id"] in seen else first
            seen.add(label["id"])
            page = label["id"]
            made = records(
                label, labeller, sha[page], split[page], args.backend, args.model, args.created
            )
            for task, record in made.items():
                target[task].append(record)
    for task in TASKS:
        for folder, rows in ((args.out, first[task]), (args.out / "second", second[task])):
            write_records(sorted(rows, key=lambda r: r.id), records_file(folder, task))
    print(f"{len(first[TASKS[0]])} pages labelled, {len(second[TASKS[0]])} twice -> {args.out}")


if __name__ == "__main__":
    main()
