"""Progress: a tqdm bar on a terminal, plain periodic lines otherwise."""
from __future__ import annotations

import io

from rgd_bench._progress import StepProgress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = StepProgress(total=10, start=0, label="ERM on X", stream=stream, interval_s=0.0)
    for step in range(10):
        progress.update(step)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("ERM on X: step 1/10 (10%)")
    assert lines[-1].startswith("ERM on X: step 10/10 (100%)") and "ETA" in lines[-1]
    assert "\r" not in stream.getvalue()


def test_plain_lines_are_rate_limited():
    stream = io.StringIO()
    progress = StepProgress(total=1000, start=0, label="run", stream=stream, interval_s=3600)
    for step in range(1000):
        progress.update(step)
    assert stream.getvalue() == ""


def test_bar_on_a_terminal_counts_from_the_resumed_step():
    stream = FakeTerminal()
    progress = StepProgress(total=10, start=4, label="run", stream=stream)
    for step in range(4, 10):
        progress.update(step)
    assert progress.bar.n == 10
    progress.close()
    assert "\r" in stream.getvalue() and "4/10" in stream.getvalue()  # a redrawn bar, from step 4


def test_sweep_progress_lines_count_done_failed_and_busy():
    from rgd_bench.sweep.progress import SweepProgress

    stream = io.StringIO()
    progress = SweepProgress(total=3, stream=stream, interval_s=0.0)
    for status in ("done", "failed", "busy"):
        progress.job_started()
        assert progress.running == 1
        progress.job_finished(status)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[-1] == "sweep: 3/3 jobs finished (1 failed, 1 left to another launcher), 0 running, ETA 0m00s"
    # periodic lines are printed as jobs start, so they count the job that just started
    assert all(", 1 running," in line for line in lines[:-1]) and len(lines) == 4


def test_sweep_progress_bar_on_a_terminal():
    from rgd_bench.sweep.progress import SweepProgress

    stream = FakeTerminal()
    progress = SweepProgress(total=2, stream=stream)
    progress.job_started()
    progress.job_finished("failed")
    assert progress.bar.n == 1 and "failed 1" in progress.bar.postfix
    progress.close()
