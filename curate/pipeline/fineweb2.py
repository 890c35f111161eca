"""FineWeb-2's published per-language heuristic thresholds, the defaults of curate's
per-language heuristic steps (`languages:` in a spec step; see docs/filter.md).

Source: github.com/huggingface/fineweb-2, `configs/{nob,nno,swe,dan,fin}_Latn.yml` (nob and fin
at commit d331bee8, nno, swe and dan at 05e67295), applied by its `fineweb-2-pipeline.py` to
datatrove's GopherRepetitionFilter (dup_line_frac, top_n_grams, dup_n_grams),
FineWebQualityFilter (line_punct_thr, new_line_ratio) and GopherQualityFilter (min/max average
word length, max_non_alpha_words_ratio). Their `language_score` is GlotLID's, a different scale
from py3langid's, so it is not used here: curate's language-ID minimums are calibrated on the
reference corpus (pipelines/demo.yaml). Their stop-word lists are not used either: curate's own
(curate.pipeline.heuristics) are longer, and two stop words is the rule in both."""

from __future__ import annotations

FINEWEB2: dict[str, dict[str, object]] = {
    "nb": {
        "dup_line_frac": 0.283,
        "top_n_grams": [[2, 0.204], [3, 0.175], [4, 0.15]],
        "dup_n_grams": [[5, 0.146], [6, 0.139], [7, 0.128], [8, 0.119], [9, 0.11], [10, 0.099]],
        "line_punct_thr": 0.107,
        "new_line_ratio": 0.167,
        "min_avg_word_length": 3,
        "max_avg_word_length": 12,
        "max_non_alpha_words_ratio": 0.783,
    },
    "nn": {
        "dup_line_frac": 0.281,
        "top_n_grams": [[2, 0.899], [3, 0.705], [4, 0.375]],
        "dup_n_grams": [[5, 0.16], [6, 0.149], [7, 0.135], [8, 0.125], [9, 0.114], [10, 0.102]],
        "line_punct_thr": 0.125,
        "new_line_ratio": 0.195,
        "min_avg_word_length": 3,
        "max_avg_word_length": 11,
        "max_non_alpha_words_ratio": 0.815,
    },
    "sv": {
        "dup_line_frac": 0.292,
        "top_n_grams": [[2, 0.242], [3, 0.195], [4, 0.174]],
        "dup_n_grams": [[5, 0.156], [6, 0.147], [7, 0.136], [8, 0.125], [9, 0.116], [10, 0.105]],
        "line_punct_thr": 0.2,
        "new_line_ratio": 0.135,
        "min_avg_word_length": 3,
        "max_avg_word_length": 12,
        "max_non_alpha_words_ratio": 0.841,
    },
    "da": {
        "dup_line_frac": 0.305,
        "top_n_grams": [[2, 0.367], [3, 0.297], [4, 0.232]],
        "dup_n_grams": [[5, 0.169], [6, 0.158], [7, 0.147], [8, 0.134], [9, 0.123], [10, 0.112]],
        "line_punct_thr": 0.1,
        "new_line_ratio": 0.182,
        "min_avg_word_length": 3,
        "max_avg_word_length": 11,
        "max_non_alpha_words_ratio": 0.798,
    },
    "fi": {
        "dup_line_frac": 0.293,
        "top_n_grams": [[2, 0.253], [3, 0.202], [4, 0.179]],
        "dup_n_grams": [[5, 0.153], [6, 0.143], [7, 0.133], [8, 0.122], [9, 0.112], [10, 0.101]],
        "line_punct_thr": 0.114,
        "new_line_ratio": 0.161,
        "min_avg_word_length": 3,
        "max_avg_word_length": 14,
        "max_non_alpha_words_ratio": 0.755,
    },
}


def fineweb2_defaults(language: str, allowed: set[str]) -> dict[str, object]:
    """FineWeb-2's values for `language` among a step's `allowed` parameters ({} if none)."""
    return {k: v for k, v in FINEWEB2.get(language, {}).items() if k in allowed}
