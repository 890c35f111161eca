"""lm-evaluation-harness tasks (NorEval's, or the user's own YAMLs under `lm_eval_include`)
scored on the model in memory. Optional: `pip install 'curate[ablate]'`; a config that names
harness tasks without lm-eval installed fails before any training starts."""

from __future__ import annotations

import logging
import os

from curate.ablate.tasks import TasksConfig
from curate.errors import CurateError

log = logging.getLogger(__name__)
# the metric a task is read by, in order of preference (lm-eval's names: "acc,none", ...)
METRICS = ("acc_norm", "acc", "exact_match", "f1", "mcc")  # all higher-is-better


class HarnessMissing(CurateError, RuntimeError):
    pass


def require_harness(config: TasksConfig) -> None:
    if not config.lm_eval:
        return
    try:
        import lm_eval  # noqa: F401
    except ImportError as err:
        raise HarnessMissing(
            f"tasks.lm_eval names {config.lm_eval} but lm-evaluation-harness is not installed: "
            "pip install 'curate[ablate]' (or drop tasks.lm_eval)"
        ) from err


def task_manager(config: TasksConfig):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=config.lm_eval_include) if config.lm_eval_include else None


def main_metric(results: dict) -> float:
    """The task's headline metric from lm-eval's result row ("acc,none": 0.61, ...)."""
    for metric in METRICS:
        for key, value in results.items():
            if key.split(",")[0] == metric and isinstance(value, int | float):
                return float(value)
    raise CurateError(f"lm-eval result has none of the metrics {METRICS}: {sorted(results)}")


def harness_scores(model, tokenizer, config: TasksConfig, batch_size: int) -> dict[str, float]:
    """lm_eval/<task> -> its headline metric."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local files only; no hub at eval time
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    device = str(next(model.parameters()).device)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
    out = lm_eval.simple_evaluate(
        model=lm,
        tasks=list(config.lm_eval),
        limit=config.lm_eval_limit,
        task_manager=task_manager(config),
        log_samples=False,
        bootstrap_iters=0,
        verbosity="WARNING",
    )
    return {f"lm_eval/{name}": main_metric(out["results"][name]) for name in config.lm_eval}
