"""LLM annotation: prompts, backends (Gemini, OpenAI-compatible), a resumable concurrent runner.

The runner and backends need the [annotate] extra; they load when first used, so that the
configs (and the CLI's list of backends) are readable without it."""

from curate.annotate.config import AnnotateConfig, default_config_path, load_config

__all__ = ["AnnotateConfig", "AnnotationSummary", "annotate", "default_config_path", "load_config"]


def __getattr__(name: str):
    if name in ("AnnotationSummary", "annotate"):
        from curate.annotate import runner

        return getattr(runner, name)
    raise AttributeError(name)
