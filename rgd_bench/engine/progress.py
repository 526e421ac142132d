"""Progress over steps: a bar on a terminal, plain periodic lines otherwise."""
from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class StepProgress:
    """Shows ``done/total`` steps; ``stream`` is the real terminal, not the run's log files."""

    def __init__(self, total: int, start: int, label: str, stream: TextIO | None = None,
                 interval_s: float = 30.0, shown: bool = True):
        self.total, self.start, self.label = total, start, label
        self.stream = stream or sys.__stderr__
        self.interval_s = interval_s
        self.started = self.last_print = time.monotonic()
        self.bar = None
        if not shown:  # a sweep's job: the sweep reports progress
            self.stream = None
        if self.stream is not None and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=label, unit="step",
                            file=self.stream, dynamic_ncols=True, leave=False)

    def update(self, step: int) -> None:
        """Report that ``step`` (0-based) is finished."""
        if self.bar is not None:
            self.bar.update(step + 1 - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last_print >= self.interval_s and self.stream is not None:
            self.last_print = now
            done = step + 1 - self.start
            rate = done / max(now - self.started, 1e-9)
            eta = (self.total - step - 1) / rate if rate > 0 else float("inf")
            print(f"{self.label}: step {step + 1}/{self.total} ({100 * (step + 1) / self.total:.0f}%), "
                  f"{rate:.1f} steps/s, ETA {_duration(eta)}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
