"""Output formats: name -> (module, function, file name used by ``--out_dir``).  Each renders a
``Report`` (``report.leaderboard``) and imports only the report's own modules."""
from __future__ import annotations

import importlib
from typing import Callable

from rgd_bench.errors import UsageError
from rgd_bench.report.build import Report

# Modules load lazily: the HTML page imports matplotlib, the rest only the standard library.
FORMATS: dict[str, tuple[str, str, str]] = {
    "text": ("rgd_bench.report.formats.terminal", "render", "leaderboard.txt"),
    "domainbed": ("rgd_bench.report.formats.domainbed_text", "render", "results.txt"),
    "markdown": ("rgd_bench.report.formats.markdown", "render", "leaderboard.md"),
    "latex": ("rgd_bench.report.formats.latex", "render", "leaderboard.tex"),
    "csv": ("rgd_bench.report.formats.rows", "render_csv", "leaderboard.csv"),
    "json": ("rgd_bench.report.formats.rows", "render_json", "leaderboard.json"),
    "html": ("rgd_bench.report.formats.html", "render", "leaderboard.html"),
    "hparams": ("rgd_bench.report.selected", "render_selected_hparams", "selected_hparams.json"),
}


def renderer(name: str) -> Callable[[Report], str]:
    """The format's render function; a missing optional dependency is a UsageError."""
    module, function, _ = FORMATS[name]
    try:
        return getattr(importlib.import_module(module), function)
    except ImportError as error:
        if error.name and error.name.startswith("rgd_bench"):
            raise
        raise UsageError(f"--format {name}: {error}") from None
