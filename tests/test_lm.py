"""The LM stage on a tiny Llama with a tokenizer trained on the demo corpus: packing keeps
documents apart, the SFT mask is exactly the assistant turns, DPO matches a hand-computed loss,
training lowers the loss, resume continues the data position, the output loads in transformers."""

import json
import math

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from curate.cli import cli


@pytest.fixture(scope="session")
def tok_model(tiny_lm):
    from transformers import AutoTokenizer

    from curate.lm.module import load_causal_lm

    return AutoTokenizer.from_pretrained(tiny_lm), load_causal_lm(str(tiny_lm)).eval()


def encode(tok, text):
    return [tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"], tok.eos_token_id]


def test_packed_document_logits_equal_the_document_alone(tok_model):
    from curate.lm.data import pack

    tok, model = tok_model
    a = encode(tok, "Fjorden er dyp og lang, og fjellene står bratt på begge sider.")
    b = encode(tok, "Nordlyset er grønt om vinteren i Nord-Norge.")
    block = pack(np.array(a + b), 64, tok.bos_token_id, tok.eos_token_id)
    span = slice(len(a), len(a) + len(b))
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([b]), use_cache=False).logits[0]
        packed = model(
            input_ids=block["input_ids"],
            position_ids=block["position_ids"],
            attention_mask=None,
            use_cache=False,
        ).logits[0]
        leaky = model(input_ids=block["input_ids"], position_ids=block["position_ids"]).logits[0]
    torch.testing.assert_close(packed[span], alone, atol=1e-5, rtol=1e-4)
    # the trap this guards against: with the default cache, b attends to a
    assert (leaky[span] - alone).abs().max() > 1e-3


def test_packing_positions_labels_and_documents_longer_than_a_block():
    from curate.lm.data import pack, split_documents

    bos, eos = 1, 2
    stream = np.array([bos, 5, 6, eos, bos, 7, 8, 9, 10, 11, eos])
    blocks = pack(stream, 4, bos, eos)
    assert blocks["input_ids"].tolist() == [[1, 5, 6, 2], [1, 7, 8, 9], [10, 11, 2, 2]]
    assert blocks["position_ids"].tolist() == [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]
    labels = blocks["labels"].tolist()
    assert labels[0] == [-100, 5, 6, 2]  # BOS never a target, EOS is
    assert labels[2] == [10, 11, 2, -100]  # the last block's padding is not
    assert split_documents(stream, 4, bos) == 1  # the second document continues in block 3


def test_empty_corpus_is_a_clear_error(tmp_path, tok_model):
    from curate.lm.data import EmptyCorpusError, tokenize_corpus

    (tmp_path / "empty.jsonl").write_text('{"text": ""}\n{"id": 1}\n')
    with pytest.raises(EmptyCorpusError, match="no usable documents .*2 bad rows"):
        tokenize_corpus([tmp_path], tok_model[0], tmp_path / "cache")
    (tmp_path / "none").mkdir()
    with pytest.raises(EmptyCorpusError, match="no input files"):
        tokenize_corpus([tmp_path / "none"], tok_model[0], tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="input not found: .*nothing"):
        tokenize_corpus([tmp_path / "nothing"], tok_model[0], tmp_path / "cache")


MESSAGES = [
    {"role": "system", "content": "Du er hjelpsom."},
    {"role": "user", "content": "Hva er en fjord?"},
    {"role": "assistant", "content": "En lang og smal havarm mellom fjell."},
    {"role": "user", "content": "Takk!"},
    {"role": "assistant", "content": "Bare hyggelig."},
]


def test_sft_mask_decodes_to_exactly_the_assistant_turns(tok_model):
    from curate.lm.chat import render_sft

    tok = tok_model[0]
    item = render_sft(MESSAGES, tok, 512)
    ids, labels = item["input_ids"].tolist(), item["labels"].tolist()
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id  # no double BOS
    masked = [i for i, label in zip(ids, labels, strict=True) if label != -100]
    expected = "En lang og smal havarm mellom fjell.<|eot_id|>Bare hyggelig.<|eot_id|>"
    assert tok.decode(masked) == expected


def test_stock_template_without_generation_marks_fails_loudly(tiny_lm):
    from transformers import AutoTokenizer

    from curate.lm.chat import TemplateError, render_sft

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    tok.chat_template = tok.chat_template.replace("{%- generation %}", "").replace(
        "{%- endgeneration %}", ""
    )
    with pytest.raises(TemplateError, match="marks no assistant tokens"):
        render_sft(MESSAGES, tok, 512)


def test_bad_chat_and_preference_rows_are_counted_and_skipped(tmp_path, tok_model):
    from curate.lm.chat import DPODataModule, SFTDataModule

    tok = tok_model[0]
    good = {"messages": MESSAGES[1:3]}
    rows = [
        good,
        {"messages": [{"content": "hei"}, {"role": "assistant", "content": "hei"}]},
        {"messages": MESSAGES[1:4]},  # ends on a user turn
        {"messages": []},
    ]
    sft = tmp_path / "sft.jsonl"
    sft.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    dm = SFTDataModule([sft], tok, 128, 0.0, batch_size=2, accumulate=1, seed=0)
    dm.setup()
    assert dm.stats["conversations"] == 1 and dm.stats["bad_rows"] == 1
    assert dm.stats["skipped"] == {
        "message with a missing or unknown role": 1,
        "conversation does not end on an assistant turn": 1,
        "no messages": 1,
    }
    pairs = [
        {"prompt": "Fortsett: Fjorden", "chosen": "er dyp.", "rejected": "kjøp billig"},
        {"prompt": "Fortsett: Fjorden", "chosen": "er dyp.", "rejected": "er dyp."},
    ]
    dpo = tmp_path / "dpo.jsonl"
    dpo.write_text("\n".join(json.dumps(r) for r in pairs) + "\n")
    dm = DPODataModule([dpo], tok, 128, 0.0, batch_size=2, accumulate=1, seed=0)
    assert len(dm.prepare_items()) == 1
    assert dm.stats["skipped"] == {"chosen == rejected (no preference to learn)": 1}
    sft.write_text(json.dumps(rows[2]) + "\n")
    with pytest.raises(ValueError, match="no usable conversations"):
        SFTDataModule([sft], tok, 128, batch_size=2, accumulate=1, seed=0).setup()


def test_dpo_loss_against_a_hand_computed_value():
    from curate.lm.module import dpo_loss

    loss, chosen, rejected = dpo_loss(
        torch.tensor([-10.0]), torch.tensor([-12.0]), torch.tensor([-11.0]), torch.tensor([-11.0])
    )
    # beta 0.1: chosen reward 0.1 * 1, rejected 0.1 * -1, loss = -log sigmoid(0.2)
    assert chosen.item() == pytest.approx(0.1) and rejected.item() == pytest.approx(-0.1)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-0.2)))
    assert loss.item() == pytest.approx(0.5981388693)


def test_sequence_logps_sum_the_completion_tokens_only(tok_model):
    from curate.lm.chat import pad_batch, render_completion
    from curate.lm.module import sequence_logps

    tok, model = tok_model
    prompt = [{"role": "user", "content": "Hva er en fjord?"}]
    ids, labels = render_completion(prompt, "En havarm.", tok, 128)
    batch = {f"x_{k}": v for k, v in pad_batch([{"input_ids": ids, "labels": labels}], 0).items()}
    with torch.no_grad():
        got = sequence_logps(model, batch, "x_").item()
        logits = model(input_ids=ids[None], use_cache=False).logits[0].log_softmax(-1)
    by_hand = sum(logits[t - 1, ids[t]].item() for t in range(1, len(ids)) if labels[t] != -100)
    assert got == pytest.approx(by_hand, rel=1e-5)
    assert (labels != -100).sum() == len(
        tok("En havarm.<|eot_id|>", add_special_tokens=False)["input_ids"]
    )


def lm_config(tmp_path, tiny_lm, stage, train, output, **training):
    config = {
        "stage": stage,
        "model": str(tiny_lm),
        "output": str(tmp_path / output),
        "data": {"train": [str(t) for t in train], "max_length": 128, "val_fraction": 0.1},
        "training": {
            "batch_size": 4,
            "accumulate_grad_batches": 2,
            "learning_rate": 3e-3,
            "checkpoint_every_n_steps": 4,
            "log_every_n_steps": 1,
            **training,
        },
    }
    path = tmp_path / f"{output}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def losses(output):
    rows = (output / "logs" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    col = header.index("train_loss")
    return [float(r.split(",")[col]) for r in rows[1:] if r.split(",")[col]]


def test_pretrain_sft_dpo_chain_lowers_losses_and_writes_loadable_models(
    tmp_path, tiny_lm, repo_root
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    runner = CliRunner()
    pre = lm_config(tmp_path, tiny_lm, "pretrain", [repo_root / "data" / "demo"], "pre", epochs=2)
    result = runner.invoke(cli, ["pretrain", "--config", str(pre)])
    assert result.exit_code == 0, result.output
    curve = losses(tmp_path / "pre")
    assert np.mean(curve[-5:]) < np.mean(curve[:5]) - 0.5  # it learns
    summary = json.loads((tmp_path / "pre" / "summary.json").read_text())
    assert summary["data"]["documents"] == 627 and summary["train_tokens_per_s"] > 0
    assert "val_ppl" in summary["metrics"]

    model_dir = tmp_path / "pre" / "model"
    sft = lm_config(
        tmp_path, model_dir, "sft", [repo_root / "data/lm/sft_demo.jsonl"], "sft", epochs=3
    )
    result = runner.invoke(cli, ["sft", "--config", str(sft)])
    assert result.exit_code == 0, result.output
    assert np.mean(losses(tmp_path / "sft")[-3:]) < np.mean(losses(tmp_path / "sft")[:3])

    dpo = lm_config(
        tmp_path,
        tmp_path / "sft" / "model",
        "dpo",
        [repo_root / "data/lm/dpo_demo.jsonl"],
        "dpo",
        epochs=2,
        learning_rate=1e-3,
    )
    result = runner.invoke(cli, ["dpo", "--config", str(dpo)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dpo" / "reference_logps.pt").exists()
    metrics = json.loads((tmp_path / "dpo" / "summary.json").read_text())["metrics"]
    curve = losses(tmp_path / "dpo")
    assert curve[0] == pytest.approx(math.log(2), abs=1e-4)  # policy == reference at step 0
    assert np.mean(curve[-3:]) < 0.6 and metrics["val_loss"] < math.log(2)
    assert metrics["val_reward_margin"] > 0

    final = tmp_path / "dpo" / "model"
    tok = AutoTokenizer.from_pretrained(final)
    model = AutoModelForCausalLM.from_pretrained(final)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Hei"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]
    result = runner.invoke(cli, ["sft", "--config", str(dpo)])
    assert result.exit_code != 0 and "is a 'dpo' config, not 'sft'" in result.output


class CrashAt(__import__("pytorch_lightning").Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


def test_resume_continues_the_data_position_and_matches_an_uninterrupted_run(
    tmp_path, tiny_lm, repo_root
):
    from curate.lm.config import LMConfig
    from curate.lm.train import run

    data = [repo_root / "data" / "demo" / "ncc_demo.jsonl.gz"]
    whole = LMConfig.load(lm_config(tmp_path, tiny_lm, "pretrain", data, "whole", max_steps=10))
    crashed = LMConfig.load(lm_config(tmp_path, tiny_lm, "pretrain", data, "crash", max_steps=10))
    run(whole)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(crashed, callbacks=[CrashAt(6)])  # last checkpoint: step 4
    summary = run(crashed, resume=True)
    assert summary["resumed_from"].endswith("last.ckpt") and summary["steps"] == 10
    a = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "crash" / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 10
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, atol=1e-6, rtol=1e-5)


def test_bf16_mixed_keeps_float32_master_weights(tmp_path, tiny_lm, repo_root):
    from curate.lm.config import LMConfig
    from curate.lm.train import run

    data = [repo_root / "data" / "demo" / "ncc_demo.jsonl.gz"]
    path = lm_config(
        tmp_path, tiny_lm, "pretrain", data, "bf16", max_steps=2, precision="bf16-mixed"
    )
    summary = run(LMConfig.load(path))
    state = torch.load(tmp_path / "bf16" / "checkpoints" / "last.ckpt", weights_only=False)
    assert summary["steps"] == 2
    assert {v.dtype for v in state["state_dict"].values()} == {torch.float32}


def test_fsdp_wraps_and_checkpoints_the_decoder_layer(tmp_path, tiny_lm):
    from pytorch_lightning.strategies import FSDPStrategy
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    from curate.lm.config import LMConfig
    from curate.lm.train import make_strategy

    config = LMConfig.from_dict(
        {
            "stage": "pretrain",
            "model": str(tiny_lm),
            "output": str(tmp_path),
            "training": {"strategy": "fsdp", "activation_checkpointing": True},
        }
    )
    strategy = make_strategy(config)
    assert isinstance(strategy, FSDPStrategy)
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {LlamaDecoderLayer}
    checkpointing = strategy._activation_checkpointing_kwargs["auto_wrap_policy"]
    assert checkpointing._module_classes == {LlamaDecoderLayer}


def test_resume_across_epochs_matches_an_uninterrupted_run(tmp_path, tiny_lm, repo_root):
    """9 training blocks = 2 windows per epoch: the checkpoint at step 6 ends epoch 2, the
    crash comes in epoch 3, and the resumed run must still see every later epoch whole."""
    from curate.lm.config import LMConfig
    from curate.lm.train import run

    data = [repo_root / "data" / "demo" / "plain"]
    settings = dict(max_steps=12, checkpoint_every_n_steps=3)
    whole = LMConfig.load(lm_config(tmp_path, tiny_lm, "pretrain", data, "whole", **settings))
    crashed = LMConfig.load(lm_config(tmp_path, tiny_lm, "pretrain", data, "crash", **settings))
    run(whole)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(crashed, callbacks=[CrashAt(8)])
    run(crashed, resume=True)
    a = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "crash" / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 12 and a["epoch"] == b["epoch"]
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, atol=1e-6, rtol=1e-5)
