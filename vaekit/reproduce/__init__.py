"""Reproductions of published results: ``vaekit reproduce NAME [--smoke|--quick|--full]``.

One module per reproduction (``capacity``, ``disentanglement``, ``vq``, ``annealing``,
``cvae``, ``likelihood``), a registry (:func:`run_reproduction`) and the result record
(:func:`vaekit.reproduce.validate_result`). Results and plots of the quick profiles are in
``docs/reproductions.md``.
"""

from vaekit.reproduce._registry import (
    DEFAULT_OUT,
    PROFILES,
    REPRODUCTIONS,
    get_reproduction,
    reproduction_config,
    run_reproduction,
)
from vaekit.reproduce._results import (
    RESULT_KEYS,
    SCHEMA,
    append_jsonl,
    append_markdown_row,
    markdown_row,
    read_result,
    summarize,
    validate_result,
    write_result,
)

__all__ = [
    "DEFAULT_OUT",
    "PROFILES",
    "REPRODUCTIONS",
    "RESULT_KEYS",
    "SCHEMA",
    "append_jsonl",
    "append_markdown_row",
    "get_reproduction",
    "markdown_row",
    "read_result",
    "reproduction_config",
    "run_reproduction",
    "summarize",
    "validate_result",
    "write_result",
]
