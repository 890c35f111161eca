"""Where the demo corpus's known document groups ended after `make filter`: kept, or the step
that dropped them (data/demo_manifest.jsonl says what each document is). Prints a markdown table.

    python tools/demo_filter_confusion.py [out/filter/demo]
"""

import json
import sys
from collections import Counter
from pathlib import Path

from curate.documents import read_documents
from curate.pipeline.clusters import REHYDRATED_COPY
from curate.pipeline.layout import RunLayout

man = {r["id"]: r for r in map(json.loads, open("data/demo_manifest.jsonl"))}
out = RunLayout(Path(sys.argv[1] if len(sys.argv) > 1 else "out/filter/demo"))
where = {}
for group, folder in out.groups().items():
    for d in read_documents([folder]):
        if not d.metadata.get(REHYDRATED_COPY):  # rehydration's repeats of a kept document
            where[d.id] = group
steps = ["kept"] + sorted({w for w in where.values() if w != "kept"})
print("| group | " + " | ".join(steps) + " |")
print("|---" * (len(steps) + 1) + "|")


def row(name, ids):
    c = Counter(where[i] for i in ids)
    print(f"| {name} ({len(ids)}) | " + " | ".join(str(c[s]) for s in steps) + " |")


def good(m):
    return (
        m["lang"] in ("nb", "nn") and m["educational_value"] >= 3 and m["linguistic_quality"] >= 3
    )


groups = {
    "known bad: spam, link lists, boilerplate, menus, cookie banners": [
        i
        for i, m in man.items()
        if m["kind"] in ("spam", "link_list", "boilerplate", "menu", "cookie")
        or m["recipe"] in ("keyword_spam", "boilerplate_only", "link_list")
    ],
    "duplicates (exact or near copies)": [
        i for i, m in man.items() if m["recipe"] in ("exact_duplicate", "near_duplicate")
    ],
    "not nb/nn": [i for i, m in man.items() if m["lang"] not in ("nb", "nn")],
    "good: nb/nn, edu>=3 and lq>=3, not a copy": [
        i
        for i, m in man.items()
        if good(m) and m["recipe"] not in ("exact_duplicate", "near_duplicate")
    ],
    "other nb/nn": [
        i
        for i, m in man.items()
        if m["lang"] in ("nb", "nn")
        and not good(m)
        and m["recipe"] not in ("exact_duplicate", "near_duplicate")
        and not (
            m["kind"] in ("spam", "link_list", "boilerplate", "menu", "cookie")
            or m["recipe"] in ("keyword_spam", "boilerplate_only", "link_list")
        )
    ],
}
for n, ids in groups.items():
    row(n, [i for i in ids if i in where])
g = set(groups["good: nb/nn, edu>=3 and lq>=3, not a copy"])
kept = [i for i, w in where.items() if w == "kept"]
print(
    "kept",
    len(kept),
    "of which good",
    sum(i in g for i in kept),
    "; good parts with at least one kept version:",
    len({tuple(man[i]["parts"]) for i in kept if i in g}),
    "of",
    len({tuple(man[i]["parts"]) for i in g}),
)
copies = ("clean", "exact_duplicate", "near_duplicate")  # the same text, or nearly
kept_copies = Counter(tuple(man[i]["parts"]) for i in kept if man[i]["recipe"] in copies)
kept_parts = {p for i in kept for p in man[i]["parts"]}
lost = [i for i in g if "dedup" in where.get(i, "")]
# the demo's good group holds several versions of one text (clean, truncated, first sentence,
# chapters) and identical copies: a good document dropped by dedup whose text survives in
# another kept version is a duplicate removed, not a good text lost
gone = [i for i in lost if not set(man[i]["parts"]) & kept_parts]
print(
    f"good documents dropped by dedup: {len(lost)}, of which {len(gone)} with no version of "
    "their text kept; duplicate copies kept (clean, exact or near copies of one text beyond the "
    f"first): {sum(n - 1 for n in kept_copies.values())}"
)
