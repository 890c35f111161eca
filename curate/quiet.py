"""Default output: our own lines and progress bars; library chatter only with -v.

Without -v: transformers' load reports and Lightning's info lines (accelerator, tips) are
silenced through their loggers, Python warnings from libraries (tracer, deprecation,
quantizer hints) are not shown, and datatrove's per-task log lines stay in the run's log files
(see `datatrove_console`). With -v everything is shown as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

# Loggers that speak at INFO/WARNING about things a user did not ask about.
CHATTY_LOGGERS = (
    "pytorch_lightning",
    "lightning",
    "lightning.pytorch",
    "lightning.fabric",
    "transformers",
    "torch",
    "onnxruntime",
    "root.quantization",
)


def configure(verbose: int) -> None:
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' weight-load bars
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # onnxruntime's quantizer advises through the root logger ("consider pre-processing")
    logging.getLogger().addFilter(only_curate_warnings)
    for handler in logging.getLogger().handlers:
        handler.addFilter(only_curate_warnings)
    warnings.filterwarnings("ignore")


def only_curate_warnings(record: logging.LogRecord) -> bool:
    """Records from curate's own loggers and errors from anywhere pass."""
    return record.name.startswith("curate") or record.levelno >= logging.ERROR


@contextlib.contextmanager
def datatrove_console(log_file: Path, verbose: int) -> Iterator[None]:
    """datatrove adds an INFO stderr sink in every task (and its worker processes), which no
    setting turns down. Without -v, file descriptor 2 of this process and the workers it starts
    is captured for the run and appended to `log_file` (once the run has made its folder; a run
    refused before that gets its output back on stderr). Errors are also in datatrove's task
    logs; the caller points the user to `log_file` on failure."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read()
            if log_file.parent.is_dir():
                with open(log_file, "ab") as sink:
                    sink.write(text)
            elif text:
                sys.stderr.buffer.write(text)
                sys.stderr.flush()
