"""The language step's minimum score per language, calibrated on real text: for nb and nn, the
highest minimum (rounded down to 0.01) that keeps `--keep` of the reference corpus's clean prose
in the train and validation splits that py3langid assigns to the right language, and what it
keeps of the test split (never tuned on). py3langid grows surer with length, so the minimum
is calibrated on whole documents and on their first N characters: use the row at your corpus's
document lengths. FineWeb-2 publishes minimums per language, but on GlotLID's scale.

    python tools/calibrate_langid.py [--keep 0.995] [--chars 1500 1000 700]
"""

import argparse
import math

import numpy as np

from curate.pipeline.langid import NordicLanguageFilter
from curate.reference import is_prose, reference_splits


def excerpt(text: str, chars: int | None) -> str:
    return text if chars is None else text[:chars].rsplit(" ", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=float, default=0.995)
    parser.add_argument("--chars", type=int, nargs="*", default=[1500, 1000, 700])
    args = parser.parse_args()
    identifier, splits = NordicLanguageFilter(), reference_splits()
    print("| text | language | minimum | test: kept (identified right) |")
    print("|---|---|---|---|")
    for chars in [None, *args.chars]:
        for lang in ("nb", "nn"):
            mine = {s: [d for d in splits[s] if d.lang == lang and is_prose(d)] for s in splits}
            tune = [identifier.identify(excerpt(d.text, chars)) for d in mine["train"]]
            tune += [identifier.identify(excerpt(d.text, chars)) for d in mine["validation"]]
            right = np.array([p for got, p in tune if got == lang])
            minimum = math.floor(np.quantile(right, 1 - args.keep) * 100) / 100
            test = [identifier.identify(excerpt(d.text, chars)) for d in mine["test"]]
            kept = np.mean([got == lang and p >= minimum for got, p in test])
            named = np.mean([got == lang for got, _ in test])
            text = "whole documents" if chars is None else f"first {chars} characters"
            print(f"| {text} | {lang} | {minimum:.2f} | {kept:.1%} ({named:.1%}) of {len(test)} |")


if __name__ == "__main__":
    main()
