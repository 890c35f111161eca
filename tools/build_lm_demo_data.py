"""Write the demo SFT and DPO sets (data/lm/) from the demo corpus, by fixed rules: no model
writes them, so they are small, deterministic and honest about what they teach.

SFT (`messages` rows): continue a clean Norwegian text from its first half; name the written
standard (bokmål or nynorsk) of a passage; both in one two-turn conversation for some rows.
DPO (`prompt`, `chosen`, `rejected`): the prompt asks to continue a clean text; chosen is its
real second half, rejected is keyword spam or boilerplate from the same corpus, cut to length.

    python tools/build_lm_demo_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from curate.documents import read_documents

ROOT = Path(__file__).resolve().parent.parent
STANDARD = {"nb": "bokmål", "nn": "nynorsk"}
SYSTEM = "Du er en hjelpsom assistent som svarer på norsk."


def halves(text: str) -> tuple[str, str]:
    words = text.split()
    cut = len(words) // 2
    return " ".join(words[:cut]), " ".join(words[cut:])


def continue_prompt(first: str) -> str:
    return f"Fortsett denne teksten:\n\n{first}"


def standard_turns(doc) -> list[dict]:
    passage = " ".join(doc.text.split()[:60])
    question = f"Er denne teksten skrevet på bokmål eller nynorsk?\n\n{passage}"
    answer = f"Teksten er skrevet på {STANDARD[doc.lang]}."
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def main() -> None:
    manifest = {
        row["id"]: row for row in map(json.loads, (ROOT / "data" / "demo_manifest.jsonl").open())
    }
    docs = list(read_documents([ROOT / "data" / "demo"]))
    clean = [
        d
        for d in docs
        if d.lang in STANDARD
        and manifest.get(d.id, {}).get("recipe") == "clean"
        and manifest[d.id]["linguistic_quality"] >= 3
        and len(d.text.split()) >= 40
    ]
    junk = [d for d in docs if manifest.get(d.id, {}).get("kind") in ("spam", "boilerplate")]
    rng = random.Random(0)
    sft, dpo = [], []
    for n, doc in enumerate(clean):
        first, second = halves(doc.text)
        turns = [{"role": "user", "content": continue_prompt(first)}]
        turns.append({"role": "assistant", "content": second})
        if n % 3 == 0:
            messages = [{"role": "system", "content": SYSTEM}, *standard_turns(doc), *turns]
        else:
            messages = turns if n % 3 == 1 else standard_turns(doc)
        sft.append({"id": f"sft-{doc.id}", "messages": messages})
        bad = " ".join(rng.choice(junk).text.split()[: len(second.split())])
        dpo.append(
            {
                "id": f"dpo-{doc.id}",
                "prompt": continue_prompt(first),
                "chosen": second,
                "rejected": bad,
            }
        )
    out = ROOT / "data" / "lm"
    out.mkdir(exist_ok=True)
    for name, rows in (("sft_demo.jsonl", sft), ("dpo_demo.jsonl", dpo)):
        with (out / name).open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{out / name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
