"""``rgd_bench.report``: model selection and leaderboards from run directories, without torch.

    from rgd_bench.report import make_report, SELECTION_METHODS
    report = make_report(["sweep_output/default"], list(SELECTION_METHODS.values()))
"""
from rgd_bench.report.build import Report, make_report
from rgd_bench.report.leaderboard import Leaderboard, build_leaderboards
from rgd_bench.report.records import LoadedSweep, Run, load_sweeps
from rgd_bench.report.selection import SELECTION_METHODS, Choice, SelectionMethod

__all__ = ["SELECTION_METHODS", "Choice", "Leaderboard", "LoadedSweep", "Report", "Run", "SelectionMethod",
           "build_leaderboards", "load_sweeps", "make_report"]
