"""The translation checks of `curate translate` on real professional translations: NTREX-128's
newstest2019 references (the same English news, translated by people into nb, nn, sv, da and fi;
../shared/reference/ntrex.jsonl.gz, MicrosoftTranslator/NTREX, CC BY-SA 4.0).

Two figures, both with the shipped bounds (curate/resources/translate/translate.yaml):
- **false failures**: each document in language T, taken as the translation of the same
  document in another language S (a real human translation pair, S -> T), is checked as
  `curate translate --from S --to T` would check it; the share that fails, per check. Nothing
  here was tuned on these documents.
- **catches**: each paragraph (6+ words) in language X, claimed to be in another language T,
  fails the language check (per pair of languages: how often a wrong-language answer is
  caught); and each document given back unchanged as its own "translation" (an echo) fails.

    python benchmarks/translation_checks.py
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import Counter, defaultdict
from itertools import permutations
from pathlib import Path

from tables import write_results  # benchmarks/ is on sys.path when run as a script

from curate.posttrain.translate import TranslateSettings, reason_kinds
from curate.posttrain.translation_checks import (
    CheckSettings,
    language_problem,
    translation_problems,
)

ROOT = Path(__file__).resolve().parent.parent
NTREX = ROOT.parent / "shared" / "reference" / "ntrex.jsonl.gz"
LANGS = ("nb", "nn", "sv", "da", "fi")


def load_parallel(path: Path) -> dict[str, dict[str, str]]:
    """document id (without the language) -> language -> text."""
    docs: dict[str, dict[str, str]] = defaultdict(dict)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs[row["id"].split("/", 2)[2]][row["lang"]] = row["text"]
    return {k: v for k, v in docs.items() if all(lang in v for lang in LANGS)}


def false_failures(docs, settings: CheckSettings) -> dict[str, dict]:
    out = {}
    for source, target in permutations(LANGS, 2):
        kinds: Counter = Counter()
        failed = 0
        for texts in docs.values():
            problems = translation_problems(texts[source], texts[target], target, settings)
            failed += bool(problems)
            for p in problems:
                kinds.update(reason_kinds(p))
        out[f"{source}->{target}"] = {"n": len(docs), "failed": failed, "kinds": dict(kinds)}
    return out


def catches(docs, s: CheckSettings) -> dict[str, dict]:
    wrong: dict[str, list[int]] = {}
    for actual, claimed in permutations(LANGS, 2):
        caught = n = 0
        for texts in docs.values():
            for paragraph in texts[actual].splitlines():
                if len(paragraph.split()) < s.language_min_words:
                    continue
                n += 1
                caught += language_problem(paragraph, claimed, s) is not None
        wrong[f"{actual} as {claimed}"] = [caught, n]
    echo = {
        lang: sum(bool(translation_problems(t[lang], t[lang], lang, s)) for t in docs.values())
        for lang in LANGS
    }
    return {"wrong_language": wrong, "echo_caught": echo, "docs": len(docs)}


def table(ff: dict, ca: dict) -> list[str]:
    lines = [
        "Real human translations (NTREX-128 newstest2019 references, CC BY-SA 4.0; "
        f"{next(iter(ff.values()))['n']} documents in each of nb, nn, sv, da, fi), checked as "
        "`curate translate --from S --to T` checks an answer, with the shipped bounds. "
        "Nothing was tuned on them.",
        "",
        "| S -> T | documents failing any check | by check |",
        "|---|---|---|",
    ]
    for pair, r in ff.items():
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["kinds"].items())) or "-"
        lines.append(
            f"| {pair} | {r['failed']} / {r['n']} ({r['failed'] / r['n']:.1%}) | {kinds} |"
        )
    lines += [
        "",
        "Wrong-language answers caught by the language check (paragraphs of 6+ words in the "
        "actual language, claimed to be in another):",
        "",
        "| actual \\ claimed | " + " | ".join(LANGS) + " |",
        "|---" * (len(LANGS) + 1) + "|",
    ]
    for actual in LANGS:
        cells = []
        for claimed in LANGS:
            if actual == claimed:
                cells.append("-")
                continue
            caught, n = ca["wrong_language"][f"{actual} as {claimed}"]
            cells.append(f"{caught / n:.0%} ({caught}/{n})")
        lines.append(f"| {actual} | " + " | ".join(cells) + " |")
    echo = ", ".join(f"{k} {v}/{ca['docs']}" for k, v in ca["echo_caught"].items())
    lines += ["", f"Echoed documents (the source given back as its translation) caught: {echo}."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(ROOT / "benchmarks/results/translation_checks"))
    args = parser.parse_args()
    if not NTREX.exists():
        raise SystemExit(f"no {NTREX}: the reference corpus is not beside this checkout")
    docs = load_parallel(NTREX)
    settings = TranslateSettings.load().checks
    ff, ca = false_failures(docs, settings), catches(docs, settings)
    write_results(args.results, table(ff, ca), {"false_failures": ff, "catches": ca})


if __name__ == "__main__":
    main()
