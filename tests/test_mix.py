"""`curate mix`: counts equal the upsampling table, prompts dedup across datasets, eval never
trained on; ClusterClip on toy corpora with known clusters; the length curriculum."""

import json
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.posttrain.clusterclip import cluster, clusterclip_sample
from curate.posttrain.curriculum import CurriculumConfig, curriculum_order
from curate.posttrain.embed import HashedEmbedder
from curate.posttrain.mix import MixConfig, mix


def sft(i: int, prompt: str, words: int = 5) -> dict:
    reply = " ".join(["ord"] * words)
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
    return {"id": f"x{i}", "messages": messages}


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def read(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def test_mixture_counts_equal_its_upsampling_table(tmp_path):
    a = write(tmp_path / "a.jsonl", [sft(i, f"spørsmål {i}") for i in range(40)] + ["bad"])
    b_rows = [sft(100 + i, f"question {i}") for i in range(20)]
    b_rows += [sft(200, "Spørsmål  3"), {"prompt": "p", "chosen": "c", "rejected": "r"}]
    b = write(tmp_path / "b.jsonl", b_rows)
    out = tmp_path / "mix"
    result = CliRunner().invoke(
        cli,
        ["mix", write_config(tmp_path, a, b), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "mix_table.json").read_text())
    table = {row["dataset"]: row for row in summary["table"]}
    train, evals = read(out / "train.jsonl"), read(out / "eval.jsonl")
    # a: 40 rows (1 bad skipped), 4 eval, 36 x 2.5 = 72 + 18; b: 22 rows, 1 duplicate prompt
    assert table["a"]["skipped"] == 1 and table["a"]["eval_rows"] == 4
    assert table["a"]["train_rows"] == 90 and table["b"]["duplicates_dropped"] == 1
    assert table["b"]["train_rows"] == round(0.5 * table["b"]["train_unique"])
    assert len(train) == sum(r["train_rows"] for r in table.values())
    per_id = Counter(r.get("id") for r in train)
    a_ids = {f"x{i}" for i in range(40)}
    # 2.5x: every row of a twice, half of them thrice
    assert Counter(n for i, n in per_id.items() if i in a_ids) == {2: 18, 3: 18}
    assert not {r.get("id") for r in evals} & set(per_id)  # eval rows never trained on
    assert "| a | sft | 2.50x |" in (out / "mix_table.md").read_text()


def write_config(tmp_path, a, b, extra: str = "") -> str:
    path = tmp_path / "mix.yaml"
    path.write_text(
        f"output: {tmp_path / 'unused'}\neval_fraction: 0.1\ndatasets:\n"
        f"  - {{name: a, path: {a}, upsample: 2.5}}\n  - {{name: b, path: {b}, upsample: 0.5}}\n"
        + extra
    )
    return str(path)


def test_clusterclip_balances_known_clusters_and_clips_repeats():
    labels = np.array([0] * 800 + [1] * 150 + [2] * 50)
    result = clusterclip_sample(labels, size=900, clip=3, seed=1)
    drawn = Counter(result.indices)
    per_cluster = Counter(int(labels[i]) for i in result.indices)
    # cluster 2 (50 rows, clip 3) leaves the draw after its 150th draw (about the 450th in
    # all, a third each); clusters 0 and 1 share the other draws equally: about 375 each
    assert per_cluster[2] == 150 and max(drawn.values()) == 3
    assert per_cluster[0] + per_cluster[1] == 750 and abs(per_cluster[0] - 375) < 40
    assert result.sizes_before == [800, 150, 50]
    assert result.sizes_after == [per_cluster[c] for c in range(3)]
    # while every cluster is in the draw, each gets a third: the first 300 draws
    early = Counter(int(labels[i]) for i in result.indices[:300])
    assert all(abs(early[c] - 100) < 30 for c in range(3))
    # no row of a cluster is drawn twice before all of the cluster's rows were drawn once
    firsts = [i for i in result.indices if labels[i] == 2][:50]
    assert len(set(firsts)) == 50


def test_clusterclip_stops_when_the_clip_empties_every_cluster():
    result = clusterclip_sample(np.array([0, 0, 1]), size=100, clip=2)
    assert result.exhausted and len(result.indices) == 6


def test_hashed_embeddings_recover_topic_clusters():
    topics = [
        "fotball kamp mål spiller trener serie lag",
        "python kode funksjon variabel liste program feil",
        "oppskrift mel sukker egg steke ovn deig",
    ]
    rng = np.random.default_rng(0)
    texts, truth = [], []
    for t, words in enumerate(topics):
        for _ in range(20):
            texts.append(" ".join(rng.choice(words.split(), size=12)))
            truth.append(t)
    labels = cluster(HashedEmbedder().embed(texts), 3, seed=0)
    for t in range(3):  # each topic is one cluster
        assert len(set(labels[np.array(truth) == t])) == 1
    assert len(set(labels)) == 3


@pytest.mark.parametrize("share", [0.0, 0.25])
def test_curriculum_rises_through_four_bins_keeping_short_rows_throughout(share):
    lengths = list(range(1, 201))
    order, bins = curriculum_order(lengths, CurriculumConfig(bins=4, short_share=share))
    assert sorted(order) == list(range(200))
    quarter = len(order) // 4
    assert np.mean(bins[:quarter]) < np.mean(bins[quarter : 2 * quarter]) < np.mean(bins[-quarter:])
    spread = round(50 * share)  # spread evenly: about three quarters of them after the first
    assert 0.6 * spread <= bins[quarter:].count(0) <= spread
    if share:
        assert bins[-quarter:].count(0) >= 1  # short rows still come near the end


def test_mix_with_clusterclip_and_curriculum_writes_the_plot(tmp_path):
    a = write(tmp_path / "a.jsonl", [sft(i, f"spørsmål om fotball {i}", i % 30) for i in range(60)])
    b = write(tmp_path / "b.jsonl", [sft(100 + i, f"python kode {i}", 3) for i in range(10)])
    extra = "clusterclip: {clusters: 2, clip: 2, embedder: hashed}\ncurriculum: {bins: 4}\n"
    config = MixConfig.load(write_config(tmp_path, a, b, extra), output=str(tmp_path / "o"))
    result = mix(config)
    assert max(Counter(id(i.row) for i in result.train).values()) <= 2
    assert len(result.clusterclip.sizes_before) == 2
    from curate.posttrain.mix import write_mix

    files = write_mix(result, config)
    assert (tmp_path / "o" / "cluster_sizes.png").stat().st_size > 1000
    assert "cluster_sizes.png" in files
    assert (
        "| cluster | rows | draws (ClusterClip) |" in (tmp_path / "o" / "mix_table.md").read_text()
    )


def test_a_broken_mix_config_names_its_file(tmp_path):
    a = write(tmp_path / "a.jsonl", [sft(i, f"q {i}") for i in range(4)])
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"output: {tmp_path / 'o'}\ndatasets:\n  - {{path: {a}}}\n")
    result = CliRunner().invoke(cli, ["mix", str(bad)])
    assert result.exit_code != 0 and "bad.yaml: datasets[0]" in result.output
    bad.write_text(f"output: {tmp_path / 'o'}\neval_fraction: -0.5\ndatasets: []\n")
    result = CliRunner().invoke(cli, ["mix", str(bad)])
    assert result.exit_code != 0 and "eval_fraction" in result.output


def test_adding_a_dataset_leaves_the_others_eval_split_as_it_was(tmp_path):
    a = write(tmp_path / "a.jsonl", [sft(i, f"spørsmål {i}") for i in range(50)])
    b = write(tmp_path / "b.jsonl", [sft(100 + i, f"question {i}") for i in range(50)])

    def eval_ids(datasets):
        config = MixConfig(output=str(tmp_path / "o"), datasets=datasets, eval_fraction=0.2)
        return {i.row["id"] for i in mix(config).eval if i.dataset == "a"}

    alone = eval_ids([{"name": "a", "path": a}])
    assert alone == eval_ids([{"name": "b", "path": b}, {"name": "a", "path": a}])


def test_bundle_embedder_mean_pools_the_encoder_through_onnxruntime(bundle):
    from curate.posttrain.embed import BundleEmbedder

    path, _, _ = bundle
    texts = [
        "Fotballaget vant kampen i går etter et sent mål.",
        "Fotballaget tapte kampen i går etter et tidlig mål.",
        "def main():\n    print('hei')\n    return 0",
    ]
    vectors = BundleEmbedder(path).embed(texts)
    assert vectors.shape == (3, 384)  # MiniLM's hidden size
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, different = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > different
