"""Sweep progress: jobs finished of the total, running and failed, elapsed time and one ETA.

On a terminal, one line that a background thread redraws every ``redraw_s`` (twice a second),
so the elapsed time runs and the ETA moves between jobs too; otherwise a plain line every
``interval_s`` (30 s) and one when the last job ends, for logs."""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from rgd_bench.engine.progress import _duration

CLEAR_TO_END = "\x1b[K"


class SweepProgress:
    def __init__(self, total: int, stream: TextIO | None = None, interval_s: float = 30.0, redraw_s: float = 0.5):
        self.total, self.done, self.failed, self.busy, self.running = total, 0, 0, 0, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._lock = threading.Lock()  # counts and writes: the launcher's callbacks and the timer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, args=(redraw_s if self.tty else interval_s,),
                                        name="sweep-progress", daemon=True)
        self._thread.start()

    def job_started(self) -> None:
        with self._lock:
            self.running += 1

    def job_finished(self, status: str) -> None:
        """``status``: done, failed, or busy (another process was running it)."""
        with self._lock:
            self.running = max(0, self.running - 1)
            self.done += status == "done"
            self.failed += status == "failed"
            self.busy += status == "busy"
            last = self.finished == self.total
        if last or self.tty:
            self._show()

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.busy

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> str:
        if self.finished == 0:
            return "?"
        return _duration(self.elapsed() / self.finished * (self.total - self.finished))

    def line(self) -> str:
        """"3/10 jobs finished (1 failed), 2 running, elapsed 1m05s, ETA 2m10s" (no ETA once all are)."""
        busy = f", {self.busy} left to another launcher" if self.busy else ""
        eta = f", ETA {self.eta()}" if self.finished < self.total else ""
        return (f"{self.finished}/{self.total} jobs finished ({self.failed} failed{busy}), "
                f"{self.running} running, elapsed {_duration(self.elapsed())}{eta}")

    def _tick(self, period: float) -> None:
        while not self._stop.wait(period):
            self._show()

    def _show(self) -> None:
        with self._lock:
            text = f"sweep: {self.line()}"
            if self.tty:  # one line, redrawn in place, never wider than the terminal
                self.stream.write("\r" + text[:_columns(self.stream) - 1] + CLEAR_TO_END)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Stop the timer thread; on a terminal, draw the last state and end the line."""
        self._stop.set()
        self._thread.join()
        if self.tty:
            self._show()
            with self._lock:
                self.stream.write("\n")
                self.stream.flush()


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # not a real terminal (a test's fake one)
        return 100
