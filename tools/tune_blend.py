"""Choose a classifier's lexical blend and fluency settings on validation pages and documents,
never the test split: the reference corpus's and the web sample's validation splits.

Uses the encoder scores of an existing bundle (`make train export` first) and refits only the
cheap parts: the lexical model on the training split of the config's `lexical.annotations`, and
the fluency penalty's weights on the bundle's own LM. Then, per task:

- educational_value: the highest validation Spearman against the hand labels (reference and
  web) among settings whose word-shuffled copies score at least `--min-shuffle-drop` lower;
- linguistic_quality: the most validation negatives dropped (web pages labelled <= 1, and
  damaged copies of reference prose from `--synthetic`) at the threshold that keeps `--recall` of
  the validation positives (web pages labelled >= 3 and clean reference prose), the worse of nb
  and nn.

Prints the best settings and the bundle's current ones. Run:
`python tools/tune_blend.py --task linguistic_quality` (a few minutes on 2 cores).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict

import click
import numpy as np
from scipy.stats import spearmanr

from curate.classify.config import load_classifier_config
from curate.classify.data import Example, load_examples
from curate.classify.fluency import FluencyParams
from curate.classify.lexical import LexicalModel, blend
from curate.classify.runtime import QualityClassifier
from curate.degrade import word_shuffle
from curate.reference import reference_dir
from curate.web import web_dir

GRID = {
    "educational_value": {
        "weight": [0.5, 1.0, 3.0],
        "margin": [1.0, 2.0],
        "window_weight": [1.0, 2.0, 4.0, 10.0],
        "window_margin": [1.0, 2.0],
        "blend": [0.0, 0.6, 0.7, 0.8, 0.9],
    },
    "linguistic_quality": {
        "weight": [0.0, 0.75, 1.5],
        "margin": [1.0, 2.0],
        "window_weight": [0.0, 0.5, 1.0],
        "window_margin": [0.5, 1.5],
        "blend": [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9],
    },
}


def hand_labelled(task: str, folders: list[str], corpora: list, split: str) -> list[Example]:
    examples, _ = load_examples(folders, corpora, task, (0, 5))
    return [e for e in examples if e.split == split]


def lq_objective(score, positive, langs, recall: float, is_web):
    """The worse language's share of negatives dropped at its recall threshold, and the shares
    of web and of synthetic negatives dropped (both languages)."""
    dropped, kept = [], np.zeros(len(score), dtype=bool)
    for lang in ("nb", "nn"):
        mine = langs == lang
        t = np.quantile(score[mine & positive], 1 - recall, method="lower")
        kept[mine] = score[mine] >= t
        dropped.append(float((~kept[mine & ~positive]).mean()))
    web = float((~kept[~positive & is_web]).mean())
    synthetic = float((~kept[~positive & ~is_web]).mean())
    return min(dropped), dropped, web, synthetic


@click.command()
@click.option("--task", type=click.Choice(sorted(GRID)), required=True)
@click.option("--config", "config_path", default=None, help="default: classifiers/<task>.demo.yaml")
@click.option("--bundle", default=None, help="default: classifiers/<task>/bundle")
@click.option("--synthetic", default="out/synthetic", show_default=True)
@click.option("--min-shuffle-drop", default=1.1, show_default=True)
@click.option("--recall", default=0.97, show_default=True)
@click.option("--alpha", type=float, default=None, help="ridge alpha (default: the config's)")
def main(task, config_path, bundle, synthetic, min_shuffle_drop, recall, alpha) -> None:
    config = load_classifier_config(config_path or f"classifiers/{task}.demo.yaml")
    clf = QualityClassifier.load(bundle or f"classifiers/{task}/bundle")
    head = task if len(clf.tasks) > 1 else None
    corpora = [reference_dir(), web_dir()]
    train = hand_labelled(task, config.lexical.annotations, corpora, "train")
    val = hand_labelled(task, config.lexical.annotations, corpora, "validation")
    if task == "linguistic_quality":
        val = [e for e in val if e.score >= 3 or e.score <= 1]
        val += hand_labelled(task, [synthetic], [synthetic], "validation")
    texts = [e.text for e in val]
    y = np.array([e.score for e in val])
    langs = np.array([e.lang for e in val])
    lexical = LexicalModel.fit(
        [e.text for e in train], [e.score for e in train], alpha or config.lexical.alpha
    )
    spec = clf.task_spec(head).fluency
    base = {k: v for k, v in spec.items() if k != "file"}
    lm = clf.fluency_model(spec["file"])
    sets = {"clean": texts}
    if task == "educational_value":
        rng = random.Random(0)
        sets["shuffled"] = [word_shuffle(t, rng) for t in texts]
    encoder = {k: clf.encoder_score(t, head) for k, t in sets.items()}
    lex = {k: lexical.predict(t) for k, t in sets.items()}
    feats = {
        k: lm.features(t, base["max_words"], base["window"], base["window_quantile"])
        for k, t in sets.items()
    }
    is_web = np.array([e.id.startswith("hplt") for e in val])
    sources = [("web", is_web), ("reference", ~is_web)]
    rows = []
    for values in itertools.product(*GRID[task].values()):
        setting = dict(zip(GRID[task], values, strict=True))
        w = setting.pop("blend")
        params = FluencyParams(**{**base, **setting})
        score = {k: blend(encoder[k], lex[k], w) + params.penalty(feats[k]) for k in sets}
        if task == "educational_value":
            drop = float((score["clean"] - score["shuffled"]).mean())
            if drop >= min_shuffle_drop:
                rho = float(spearmanr(score["clean"], y)[0])
                parts = [
                    f"{name} {spearmanr(score['clean'][m], y[m])[0]:.3f}" for name, m in sources
                ]
                rows.append((rho, f"shuffle drop {drop:.2f}, " + ", ".join(parts), w, setting))
        else:
            worst, both, on_web, on_copies = lq_objective(
                score["clean"], y >= 3, langs, recall, is_web
            )
            note = f"dropped nb {both[0]:.3f} nn {both[1]:.3f}; web {on_web:.3f}"
            note += f", copies {on_copies:.3f}"
            rows.append((worst, note, w, setting))
    measure = (
        "Spearman" if task == "educational_value" else f"negatives dropped at {recall:.0%} recall"
    )
    print(f"validation: {len(texts)} examples; lexical fit on {len(train)}")
    for r in rows:
        if r[2] == (config.lexical.weight if config.lexical else 0.0) and all(
            base[k] == v for k, v in r[3].items()
        ):
            print(f"the config's settings: {measure} {r[0]:.3f} ({r[1]})")
    print(f"best {measure}:")
    for r in sorted(rows, key=lambda r: r[0], reverse=True)[:8]:
        print(f"  {r[0]:.3f}  {r[1]}  blend {r[2]}  fluency {r[3]}")
    print("fluency LM scale:", {k: round(v, 3) for k, v in asdict(FluencyParams(**base)).items()})


if __name__ == "__main__":
    main()
