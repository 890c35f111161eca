import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from curate.classify import BundleError, QualityClassifier
from curate.classify.export import ParityError, export_bundle
from curate.classify.model import load_encoder, predict
from curate.cli import cli
from curate.documents import read_documents

TEXTS = [
    "Fotosyntese er prosessen der grønne planter lager sukker av karbondioksid og vann.",
    "billig forsikring | beste pris | kjøp nå",
    "Hei! Kommer du i morgen?",
    "Plantane lagar sukker ved fotosyntese. " * 40,
    "光合作用是植物利用光能的过程。",
    "التمثيل الضوئي عملية حيوية 🌿🌞",
]


def test_bundle_has_fused_fp32_int8_tokenizer_and_spec(bundle):
    out, spec, _ = bundle
    for name in ("model.onnx", "model.int8.onnx", "tokenizer.json", "classifier.json", "README.md"):
        assert (out / name).exists(), name
    saved = json.loads((out / "classifier.json").read_text())
    assert saved["format_version"] == 1 and saved["task"] == "educational_value"
    assert saved["fused_ops"]["Attention"] == 6 and saved["fused_ops"]["EmbedLayerNormalization"]
    assert set(saved["sha256"]) >= {"model.onnx", "model.int8.onnx", "tokenizer.json"}
    assert saved["parity"]["fp32"]["max_abs_delta"] < 1e-3
    assert saved["parity"]["fp32"]["keep_agreement"] == 1.0
    assert saved["parity"]["int8"]["n"] == 60
    assert "keep/drop agreement" in (out / "README.md").read_text()
    assert saved["label_scale"] and saved["curves"]  # label scale and trade-off curves travel
    assert (out / "threshold_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_onnx_scores_match_torch_in_input_order(bundle):
    out, spec, model_dir = bundle
    model, tok = load_encoder(str(model_dir / "model"))
    clf = QualityClassifier.load(out, variant="fp32")
    # the torch encoder plus the bundle's fluency penalty (numpy, no model), mapped onto the
    # label scale, as export checks
    raw = predict(model, tok, TEXTS, spec["max_length"]) + clf.fluency_penalty(TEXTS)
    reference = clf.side_models().calibrate(raw)
    np.testing.assert_allclose(clf.score(TEXTS), reference, atol=1e-4)
    one_by_one = np.array([clf.score([t])[0] for t in TEXTS])
    np.testing.assert_allclose(one_by_one, reference, atol=1e-4)
    tiny_batches = QualityClassifier.load(out, variant="fp32", batch_tokens=16)
    np.testing.assert_allclose(tiny_batches.score(TEXTS), reference, atol=1e-4)
    assert (clf.keep(TEXTS) == (reference >= spec["threshold"])).all()
    assert set(clf.int_scores(TEXTS)) <= set(range(6))


def test_empty_huge_and_foreign_texts(bundle):
    clf = QualityClassifier.load(bundle[0])
    scores = clf.score(["", "   \n\t", "ord " * 1_250_000, *TEXTS[4:]])
    assert scores[0] == scores[1] == 0.0
    assert np.isfinite(scores).all() and len(scores) == 5
    assert clf.score([]).shape == (0,)


def test_chunking_aggregates_windows_of_long_documents(bundle):
    out = bundle[0]
    long_text = TEXTS[1] + " " + TEXTS[0] * 30
    first = QualityClassifier.load(out, variant="fp32").score([long_text])[0]
    mean = QualityClassifier.load(out, variant="fp32", chunking="mean").score([long_text])[0]
    top = QualityClassifier.load(out, variant="fp32", chunking="max").score([long_text])[0]
    assert top >= mean and top >= first - 1e-5 and mean != pytest.approx(first, abs=1e-6)


def test_classifier_pickles_without_its_session(bundle):
    clf = QualityClassifier.load(bundle[0])
    before = clf.score(TEXTS)
    clone = pickle.loads(pickle.dumps(clf))
    assert clone._session is None
    np.testing.assert_allclose(clone.score(TEXTS), before)


def test_tampered_missing_and_newer_bundles_are_refused(bundle, tmp_path):
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(bundle[0], copy)
    with open(copy / "model.int8.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="model.int8.onnx does not match its sha256"):
        QualityClassifier.load(copy)
    (copy / "model.int8.onnx").unlink()
    with pytest.raises(BundleError, match="model.int8.onnx is missing"):
        QualityClassifier.load(copy)
    spec = json.loads((copy / "classifier.json").read_text())
    (copy / "classifier.json").write_text(json.dumps({**spec, "format_version": 99}))
    with pytest.raises(BundleError, match="bundle format 99 is newer"):
        QualityClassifier.load(copy)
    with pytest.raises(BundleError, match="no classifier.json"):
        QualityClassifier.load(tmp_path)


def test_export_refuses_a_bundle_below_the_agreement_bar(trained, tmp_path):
    with pytest.raises(ParityError, match="no bundle written"):
        export_bundle(trained[0], tmp_path / "never", TEXTS, min_agreement=1.01)
    assert list(tmp_path.iterdir()) == []


def test_export_can_leave_the_down_projections_fp32(bundle, trained, tmp_path, repo_root):
    """Default: the encoder's every linear layer int8 (the down-projections smoothed first);
    --fp32-down-projections leaves the six down-projections fp32. Parity measured either way."""
    out = tmp_path / "fp32_down"
    args = ["export", str(trained[0]), "-o", str(out), "--data", str(repo_root / "data/demo")]
    args += ["--parity-docs", "60", "--min-agreement", "0", "--no-torch-copy"]
    result = CliRunner().invoke(cli, [*args, "--fp32-down-projections"])
    assert result.exit_code == 0, result.output
    default, fp32_down = bundle[1], json.loads((out / "classifier.json").read_text())
    assert fp32_down["int8_fp32_nodes"] - default["int8_fp32_nodes"] == 6  # one per layer
    assert default["int8_smoothing"]["alpha"] > 0 and "int8_smoothing" not in fp32_down
    assert fp32_down["parity"]["int8"]["n"] == 60 and "int8: max |Δ|" in result.output
    clf = QualityClassifier.load(out)
    assert np.isfinite(clf.score(TEXTS)).all()


def test_int8_down_projections_refuse_to_quantise_without_calibration(bundle, tmp_path):
    from curate.classify.export import quantize

    with pytest.raises(ValueError, match="calibration"):
        quantize(bundle[0] / "model.onnx", tmp_path / "model.int8.onnx", True, calibration=[])
    assert not (tmp_path / "model.int8.onnx").exists()


def test_smoothing_leaves_the_fp32_model_s_scores_unchanged(bundle, tmp_path):
    """SmoothQuant moves scale from the down-projections' inputs into their weights: in fp32
    the smoothed graph computes the same scores (what int8 then gains is evener activations)."""
    import onnx
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from curate.classify.export import calibration_feeds
    from curate.classify.smoothquant import down_projections, smooth_down_projections

    out, spec, _ = bundle
    tokenizer = AutoTokenizer.from_pretrained(out)
    feeds = calibration_feeds(tokenizer, TEXTS, spec["max_length"], spec["inputs"])
    smoothed = tmp_path / "smoothed.onnx"
    assert smooth_down_projections(out / "model.onnx", smoothed, feeds) == 6
    scores = {}
    for name, path in (("original", out / "model.onnx"), ("smoothed", smoothed)):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        scores[name] = session.run(None, feeds[0])[0]
    np.testing.assert_allclose(scores["smoothed"], scores["original"], atol=1e-4)
    graph = onnx.load(str(smoothed)).graph
    assert all(n.input[0].endswith("smoothed_input") for n in down_projections(graph))


def test_bundle_scores_in_a_process_where_torch_cannot_be_imported(bundle):
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
from curate.classify import QualityClassifier
clf = QualityClassifier.load({str(bundle[0])!r})
print(clf.score({TEXTS!r}).round(4).tolist())
assert 'torch' not in sys.modules and 'transformers' not in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == len(TEXTS)


def test_score_cli_adds_metadata(bundle, tmp_path, repo_root):
    out = tmp_path / "scored.jsonl"
    result = CliRunner().invoke(
        cli, ["score", "--model", str(bundle[0]), str(repo_root / "data/demo"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "3 bad rows set aside" in result.output
    docs = list(read_documents([out]))
    assert len(docs) == 627
    assert all(
        isinstance(d.metadata["educational_value"], float)
        and d.metadata["educational_value_int"] in range(6)
        for d in docs
    )


def test_bundle_carries_a_torch_copy_that_scores_like_the_onnx_model(bundle):
    """The GPU path's weights (torch/, fp16) run through the same tokenising and batching as
    onnxruntime; here on the CPU in fp32, so a machine without a GPU checks the path."""
    out, spec, _ = bundle
    assert {"torch/config.json", "torch/model.safetensors"} <= set(spec["sha256"])
    onnx = QualityClassifier.load(out, variant="fp32")
    torch_copy = QualityClassifier.load(out, engine="torch", batch_tokens=64)
    assert torch_copy.engine == "torch" and onnx.engine == "onnxruntime"
    np.testing.assert_allclose(torch_copy.score(TEXTS), onnx.score(TEXTS), atol=5e-3)


def test_device_cuda_without_a_gpu_is_a_clear_error(bundle, tmp_path, repo_root):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the cuda path runs instead of failing")
    args = ["score", "--model", str(bundle[0]), "--device", "cuda", str(repo_root / "data/demo")]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "s.jsonl")])
    assert result.exit_code != 0
    assert "no CUDA GPU" in result.output and "device cpu or auto" in result.output
