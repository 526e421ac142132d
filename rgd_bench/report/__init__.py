"""``rgd_bench.report``: model selection and leaderboards from run directories, without torch.

It reads run directories only (through ``rgd_bench.rundir`` and its schema) and may import
``rundir``, ``values``, ``errors``, ``environments``, ``plugins`` (for --plugins) and the
command-line plumbing (``_cli``, ``_files``, ``_printable``); never the engine, torch or
numpy (matplotlib only for HTML plots).

    from rgd_bench.report import make_report, SELECTION_METHODS
    report = make_report(["sweep_output/default"], list(SELECTION_METHODS.values()))
"""
from rgd_bench.report.build import Report, make_report
from rgd_bench.report.leaderboard import Leaderboard, build_leaderboards
from rgd_bench.report.records import LoadedSweep, Run, load_sweeps
from rgd_bench.report.selection import SELECTION_METHODS, Choice, SelectionMethod

__all__ = ["SELECTION_METHODS", "Choice", "Leaderboard", "LoadedSweep", "Report", "Run", "SelectionMethod",
           "build_leaderboards", "load_sweeps", "make_report"]
