"""LoRA and RSLoRA through peft on the tiny Llama: only adapter parameters train (counted), the
loss falls, the merged model's logits equal the adapter model's; NEFTune; DPO against the
adapter-disabled policy; a curriculum order is kept when data.shuffle is false."""

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_lm import lm_config, losses

from curate.cli import cli
from curate.lm.adapters import (
    AdapterConfig,
    add_adapter,
    add_neftune,
    merged_model,
    parameter_counts,
)
from curate.lm.data import ResumableSampler
from curate.lm.module import load_causal_lm

ADAPTER = {"rank": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}


def test_lora_trains_only_adapter_parameters(tiny_lm):
    model = load_causal_lm(str(tiny_lm))
    full = sum(p.numel() for p in model.parameters())
    linears = [m for m in model.model.layers.modules() if isinstance(m, torch.nn.Linear)]
    adapted = add_adapter(model, AdapterConfig(**ADAPTER))
    trainable, total = parameter_counts(adapted)
    # rank 8: A (8 x in) and B (out x 8) beside every projection of every decoder layer
    assert len(linears) == 2 * 7
    assert trainable == sum(8 * (m.in_features + m.out_features) for m in linears)
    assert total == full + trainable
    names = [n for n, p in adapted.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)


def test_rslora_scales_by_the_square_root_of_the_rank(tiny_lm):
    model = add_adapter(load_causal_lm(str(tiny_lm)), {**ADAPTER, "method": "rslora"})
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    assert layer.scaling["default"] == pytest.approx(16 / math.sqrt(8))


def test_neftune_noise_in_training_only(tiny_lm):
    model = load_causal_lm(str(tiny_lm))
    ids = torch.tensor([[5, 6, 7, 8]])
    clean = model.get_input_embeddings()(ids)
    add_neftune(model, 5.0)
    model.train()
    noisy = model.get_input_embeddings()(ids)
    bound = 5.0 / math.sqrt(4 * clean.size(-1))
    assert 0 < (noisy - clean).abs().max() <= bound + 1e-6
    model.eval()
    assert torch.equal(model.get_input_embeddings()(ids), clean)


def test_unshuffled_sampler_keeps_the_order_and_resumes_in_it():
    assert list(ResumableSampler(6, seed=1, shuffle=False)) == [0, 1, 2, 3, 4, 5]
    assert list(ResumableSampler(6, seed=1, skip=4, shuffle=False)) == [4, 5]


def test_lora_sft_and_dpo_learn_and_merge_to_the_same_logits(tmp_path, tiny_lm, repo_root):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    runner = CliRunner()
    sft = lm_config(tmp_path, tiny_lm, "sft", [repo_root / "data/lm/sft_demo.jsonl"], "sft",
                    epochs=3, learning_rate=1e-2, neftune_alpha=5.0)  # fmt: skip
    config = __import__("yaml").safe_load(sft.read_text())
    config["adapter"] = ADAPTER
    config["data"]["shuffle"] = False
    sft.write_text(__import__("yaml").safe_dump(config))
    result = runner.invoke(cli, ["sft", "--config", str(sft)])
    assert result.exit_code == 0, result.output
    curve = losses(tmp_path / "sft")
    assert np.mean(curve[-3:]) < np.mean(curve[:3])
    summary = json.loads((tmp_path / "sft" / "summary.json").read_text())
    assert 0 < summary["trainable_parameters"] < 0.2 * summary["parameters"]

    # the merged model (model/) gives the adapter model's logits (base + adapter/)
    base = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    adapter = PeftModel.from_pretrained(base, tmp_path / "sft" / "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "sft" / "model").eval()
    ids = torch.tensor([[1, 20, 30, 40, 50, 60]])
    with torch.no_grad():
        want, got = adapter(input_ids=ids).logits, merged(input_ids=ids).logits
    assert torch.allclose(want, got, atol=1e-4)
    untouched = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    with torch.no_grad():
        assert not torch.allclose(untouched(input_ids=ids).logits, got, atol=1e-3)

    dpo = lm_config(tmp_path, tmp_path / "sft" / "model", "dpo",
                    [repo_root / "data/lm/dpo_demo.jsonl"], "dpo", epochs=2,
                    learning_rate=1e-2)  # fmt: skip
    config = __import__("yaml").safe_load(dpo.read_text())
    config["adapter"] = ADAPTER
    dpo.write_text(__import__("yaml").safe_dump(config))
    result = runner.invoke(cli, ["dpo", "--config", str(dpo)])
    assert result.exit_code == 0, result.output
    curve = losses(tmp_path / "dpo")
    assert curve[0] == pytest.approx(math.log(2), abs=1e-4)  # policy == adapter-free reference
    assert np.mean(curve[-3:]) < math.log(2)
    assert (tmp_path / "dpo" / "adapter").is_dir() and (tmp_path / "dpo" / "model").is_dir()


def test_neftune_outside_sft_is_refused(tmp_path, tiny_lm, repo_root):
    dpo = lm_config(tmp_path, tiny_lm, "dpo", [repo_root / "data/lm/dpo_demo.jsonl"], "d",
                    neftune_alpha=5.0)  # fmt: skip
    result = CliRunner().invoke(cli, ["dpo", "--config", str(dpo)])
    assert result.exit_code != 0 and "sft stage only" in result.output


def test_merged_model_of_a_plain_model_is_itself(tiny_lm):
    model = load_causal_lm(str(tiny_lm))
    assert merged_model(model) is model
