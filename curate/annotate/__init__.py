"""LLM annotation: prompts, backends (Gemini, OpenAI-compatible), a resumable concurrent runner."""

from curate.annotate.config import AnnotateConfig, default_config_path, load_config
from curate.annotate.runner import AnnotationSummary, annotate

__all__ = ["AnnotateConfig", "AnnotationSummary", "annotate", "default_config_path", "load_config"]
