"""Choose the educational-value classifier's lexical blend and fluency settings on the reference
validation split, never the test split.

Uses the encoder scores of an existing bundle (`make train export` first) and refits only the
cheap parts: the lexical model on the training split's hand labels (annotations/reference) and
the fluency penalty's weights on the bundle's own LM. Prints the settings with the highest
validation Spearman against the hand labels among those whose word-shuffled copies score at
least `--min-shuffle-drop` below their originals, and the bundle's current settings for
comparison. Run: `python tools/tune_edu_blend.py` (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict

import click
import numpy as np
from scipy.stats import spearmanr

from curate.classify.config import LexicalConfig
from curate.classify.data import load_examples
from curate.classify.fluency import FluencyParams
from curate.classify.lexical import LexicalModel, blend
from curate.classify.runtime import QualityClassifier
from curate.degrade import word_shuffle
from curate.reference import reference_dir

TASK = "educational_value"
GRID = {
    "weight": [1.0, 2.0, 3.0, 4.0],
    "margin": [0.5, 1.0, 1.5],
    "window_weight": [4.0, 6.0, 8.0, 10.0],
    "window_margin": [0.5, 1.0, 1.5],
    "blend": [0.0, 0.5, 0.6, 0.7, 0.8],
}


def hand_labelled(split: str) -> tuple[list[str], np.ndarray]:
    examples, _ = load_examples(["annotations/reference"], [reference_dir()], TASK, (0, 5))
    mine = [e for e in examples if e.split == split]
    return [e.text for e in mine], np.array([e.score for e in mine])


@click.command()
@click.option("--bundle", default=f"classifiers/{TASK}/bundle", show_default=True)
@click.option("--min-shuffle-drop", default=1.1, show_default=True)
@click.option("--alpha", default=LexicalConfig.alpha, show_default=True)
def main(bundle: str, min_shuffle_drop: float, alpha: float) -> None:
    train_texts, train_y = hand_labelled("train")
    texts, y = hand_labelled("validation")
    rng = random.Random(0)
    shuffled = [word_shuffle(t, rng) for t in texts]
    clf = QualityClassifier.load(bundle)
    task = TASK if len(clf.tasks) > 1 else None  # a bundle with a head per task: its edu head
    encoder = {
        "clean": clf.encoder_score(texts, task),
        "shuffled": clf.encoder_score(shuffled, task),
    }
    lexical = LexicalModel.fit(train_texts, train_y, alpha)
    lex = {"clean": lexical.predict(texts), "shuffled": lexical.predict(shuffled)}
    spec = clf.task_spec(task)["fluency"]
    base = {k: v for k, v in spec.items() if k != "file"}
    lm = clf.fluency_model(spec["file"])
    feats = {
        name: lm.features(t, base["max_words"], base["window"], base["window_quantile"])
        for name, t in (("clean", texts), ("shuffled", shuffled))
    }
    rows = []
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values, strict=True))
        w = setting.pop("blend")
        params = FluencyParams(**{**base, **setting})
        score = {
            name: blend(encoder[name], lex[name], w) + params.penalty(feats[name])
            for name in encoder
        }
        drop = float((score["clean"] - score["shuffled"]).mean())
        rows.append((float(spearmanr(score["clean"], y)[0]), drop, w, setting))
    print(f"validation: {len(texts)} hand-labelled documents; lexical fit on {len(train_texts)}")
    current = [r for r in rows if r[2] == 0.0 and all(base[k] == v for k, v in r[3].items())]
    for r in current:
        print(f"bundle's settings, no lexical: Spearman {r[0]:.3f}, shuffle drop {r[1]:.2f}")
    print(f"best with shuffled copies >= {min_shuffle_drop:.2f} lower:")
    chosen = (r for r in rows if r[1] >= min_shuffle_drop)
    for r in sorted(chosen, key=lambda r: r[:3], reverse=True)[:8]:
        print(f"  Spearman {r[0]:.3f}  drop {r[1]:.2f}  blend {r[2]}  fluency {r[3]}")
    print("fluency LM scale:", {k: round(v, 3) for k, v in asdict(FluencyParams(**base)).items()})


if __name__ == "__main__":
    main()
