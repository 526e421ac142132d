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
