"""The language step's minimum score per language, calibrated on real text: for nb and nn, the
highest minimum (rounded down to 0.01) that keeps `--keep` of the reference corpus's clean prose
in the train and validation splits, and what it keeps of the test split (never tuned on).
FineWeb-2 publishes minimums per language, but on GlotLID's scale; py3langid's differs.

    python tools/calibrate_langid.py [--keep 0.995]   (reads ../shared/reference)
"""

import argparse
import math

import numpy as np

from curate.pipeline.langid import NordicLanguageFilter
from curate.reference import is_prose, reference_splits


def scores(identifier: NordicLanguageFilter, docs, lang: str) -> np.ndarray:
    """py3langid's probability for `lang`; 0 where it names another language."""
    found = (identifier.identify(d.text) for d in docs)
    return np.array([p if got == lang else 0.0 for got, p in found])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=float, default=0.995)
    args = parser.parse_args()
    identifier, splits = NordicLanguageFilter(), reference_splits()
    print("| language | tuned on (train+validation) | minimum | kept, test split |")
    print("|---|---|---|---|")
    for lang in ("nb", "nn"):
        mine = {s: [d for d in splits[s] if d.lang == lang and is_prose(d)] for s in splits}
        tune = scores(identifier, mine["train"] + mine["validation"], lang)
        minimum = math.floor(np.quantile(tune, 1 - args.keep) * 100) / 100
        test = scores(identifier, mine["test"], lang)
        kept = (test >= minimum).mean()
        print(f"| {lang} | {len(tune)} | {minimum:.2f} | {kept:.1%} of {len(test)} |")


if __name__ == "__main__":
    main()
