"""Progress: a tqdm bar on a terminal, plain periodic lines otherwise."""
from __future__ import annotations

import io
import re
import threading

from rgd_bench.engine.progress import StepProgress
from rgd_bench.sweep.progress import CLEAR_TO_END


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
    progress = SweepProgress(total=3, stream=stream, interval_s=3600)
    for status in ("done", "failed", "busy"):
        progress.job_started()
        assert progress.running == 1
        progress.job_finished(status)
    progress.close()
    # Off a terminal: a line every interval_s (none in this short test) and one when the last job ends.
    line, = stream.getvalue().splitlines()
    assert re.fullmatch(r"sweep: 3/3 jobs finished \(1 failed, 1 left to another launcher\), 0 running, "
                        r"elapsed 0m0\ds", line)
    assert "\r" not in stream.getvalue() and "ETA" not in line  # nothing is left to estimate


class RecordingTerminal(FakeTerminal):
    """A terminal that lets a test wait until what was drawn meets a condition."""

    def __init__(self):
        super().__init__()
        self.changed = threading.Condition()

    def write(self, text: str) -> int:
        with self.changed:
            written = super().write(text)
            self.changed.notify_all()
        return written

    def wait_for(self, condition, timeout_s: float = 30.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: condition(self.getvalue()), timeout=timeout_s)


def redraws(text: str) -> list[str]:
    return [part.removesuffix(CLEAR_TO_END) for part in text.split("\r") if part]


def elapsed_of(line: str) -> str:
    return re.search(r"elapsed (\S+?),", line).group(1)


def test_sweep_progress_on_a_terminal_redraws_one_line_with_the_time_running():
    from rgd_bench.sweep.progress import SweepProgress

    stream = RecordingTerminal()
    progress = SweepProgress(total=4, stream=stream)
    progress.job_started()
    progress.job_started()
    progress.job_finished("done")
    # No job ends from here on: the timer alone redraws, and the elapsed time moves.
    assert stream.wait_for(lambda text: len({elapsed_of(line) for line in redraws(text)}) >= 2), stream.getvalue()
    progress.close()
    assert not progress._thread.is_alive()
    text = stream.getvalue()
    assert "\n" not in text[:-1] and text.endswith("\n")  # one line, redrawn in place, ended on close
    lines = redraws(text.rstrip("\n"))
    assert all(line.count("ETA") == 1 for line in lines)  # one ETA, no bar with its own
    assert re.fullmatch(r"sweep: 1/4 jobs finished \(0 failed\), 1 running, elapsed \dm\d\ds, ETA \dm\d\ds", lines[-1])


def test_sweep_progress_stops_drawing_once_closed():
    from rgd_bench.sweep.progress import SweepProgress

    stream = RecordingTerminal()
    progress = SweepProgress(total=2, stream=stream, redraw_s=0.01)
    assert stream.wait_for(lambda text: len(redraws(text)) >= 3)
    progress.close()
    # close() joined the timer thread: nothing can draw after the line was ended.
    assert stream.getvalue().endswith("\n") and not progress._thread.is_alive()


def test_sweep_progress_off_a_terminal_prints_plain_lines_on_its_timer():
    from rgd_bench.sweep.progress import SweepProgress

    stream = RecordingTerminal()
    stream.isatty = lambda: False
    progress = SweepProgress(total=2, stream=stream, interval_s=0.01)
    progress.job_started()
    assert stream.wait_for(lambda text: text.count("\n") >= 2)  # while no job ends
    progress.close()
    lines = stream.getvalue().splitlines()
    assert all(line.startswith("sweep: 0/2 jobs finished (0 failed), 1 running, elapsed ") for line in lines)
    assert "\r" not in stream.getvalue() and CLEAR_TO_END not in stream.getvalue()
