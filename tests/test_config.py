"""One config loader (curate.config) behind every command that reads a config: --set works
everywhere, errors name the file, the key and the allowed values, renamed keys still read."""

import logging

import pytest
import yaml
from click.testing import CliRunner

from curate.annotate.config import default_config_path, load_config
from curate.classify.config import load_classifier_config, resolve_model_path
from curate.cli import cli
from curate.config import ConfigError
from curate.lm.config import LMConfig


def write(path, data):
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_set_reaches_nested_sections_of_every_config_kind(tmp_path, repo_root):
    clf = load_classifier_config(
        repo_root / "classifiers" / "educational_value.demo.yaml",
        ["training.learning_rate=1e-4", "threshold.per_language=[nb, nn]", "max_length=64"],
    )
    assert clf.training.learning_rate == 1e-4 and clf.max_length == 64
    assert clf.threshold.per_language == ["nb", "nn"]
    lm = LMConfig.load(repo_root / "lm" / "pretrain.demo.yaml", ["training.batch_size=2"])
    assert lm.training.batch_size == 2
    annotate = load_config(default_config_path("openai"), ["generation.temperature=0.5"])
    assert annotate.generation["temperature"] == 0.5 and annotate.generation["max_output_tokens"]


def test_errors_name_the_file_the_key_and_the_allowed_values(tmp_path, repo_root):
    bad = write(
        tmp_path / "lm.yaml",
        {"stage": "pretrain", "model": "m", "output": "o", "training": {"batchsize": 4}},
    )
    with pytest.raises(
        ConfigError,
        match=r"lm.yaml.training: unknown keys \['batchsize'\]; "
        r"allowed: \[.*'batch_size'",
    ):
        LMConfig.load(bad)
    with pytest.raises(ConfigError, match=r"lm.yaml: stage must be one of"):
        LMConfig.load(write(bad, {"stage": "pretrain", "model": "m", "output": "o"}), ["stage=ft"])
    broken = write(tmp_path / "broken.yaml", "task: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML"):
        load_classifier_config(broken)
    with pytest.raises(ConfigError, match=r"--set\): expected key=value, got 'epochs'"):
        load_classifier_config(
            repo_root / "classifiers" / "educational_value.demo.yaml", ["epochs"]
        )


def test_renamed_keys_still_read_with_a_warning_and_never_both(tmp_path, caplog):
    old = {
        "stage": "sft",
        "model": "m",
        "output": "o",
        "training": {"lr": 1e-3, "micro_batch_size": 2},
    }
    with caplog.at_level(logging.WARNING):
        config = LMConfig.load(write(tmp_path / "old.yaml", old))
    assert config.training.learning_rate == 1e-3 and config.training.batch_size == 2
    assert "`lr` is now called `learning_rate`" in caplog.text
    old["training"]["learning_rate"] = 1e-4
    with pytest.raises(ConfigError, match="both `lr` and `learning_rate`"):
        LMConfig.load(write(tmp_path / "both.yaml", old))


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--config", "classifiers/educational_value.demo.yaml", "--annotations", "x"],
        ["pretrain", "--config", "lm/pretrain.demo.yaml"],
        ["annotate", "data/demo/plain", "--fake-llm", "-o", "OUT"],
    ],
    ids=["train", "pretrain", "annotate"],
)
def test_every_config_command_takes_set_and_names_a_bad_key(args, tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    (tmp_path / "x").mkdir()
    args = [
        a.replace("OUT", str(tmp_path / "o")).replace("x", str(tmp_path / "x"))
        if a in ("OUT", "x")
        else a
        for a in args
    ]
    result = CliRunner().invoke(cli, [*args, "--set", "no_such_key=1"])
    assert result.exit_code != 0
    assert "unknown keys ['no_such_key']; allowed:" in result.output, result.output


def test_a_bad_lexical_section_names_the_file_and_the_key(repo_root):
    config = repo_root / "classifiers" / "educational_value.demo.yaml"
    with pytest.raises(ConfigError, match=r"lexical weight must be between 0 and 1: 1.5"):
        load_classifier_config(config, ["lexical.weight=1.5"])
    with pytest.raises(ConfigError, match=r"lexical: unknown keys \['alpah'\]"):
        load_classifier_config(config, ["lexical.alpah=0.3"])


def test_a_torn_trained_classifier_as_base_model_is_named(tmp_path):
    """`base_model` naming a `curate train` folder whose metrics.json is torn: a clear error
    naming the file, not a JSON traceback."""
    (tmp_path / "model").mkdir()
    (tmp_path / "metrics.json").write_text('{"task": "educational_va')
    with pytest.raises(ValueError, match="metrics.json: not the metrics.json `curate train`"):
        resolve_model_path(str(tmp_path))
