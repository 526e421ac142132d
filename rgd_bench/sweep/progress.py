"""Sweep progress: done/total, running, failed and ETA; a bar on a terminal, plain
periodic lines otherwise."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from rgd_bench._progress import _duration


class SweepProgress:
    def __init__(self, total: int, stream: TextIO | None = None, interval_s: float = 30.0):
        self.total, self.done, self.failed, self.busy, self.running = total, 0, 0, 0, 0
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.started = self.last_print = time.monotonic()
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="sweep", unit="job", file=self.stream, dynamic_ncols=True)

    def job_started(self) -> None:
        self.running += 1
        self._show()

    def job_finished(self, status: str) -> None:
        """``status``: done, failed, or busy (another process was running it)."""
        self.running = max(0, self.running - 1)
        self.done += status == "done"
        self.failed += status == "failed"
        self.busy += status == "busy"
        if self.bar is not None:
            self.bar.update(1)
        # Periodic lines come when a job starts: between one job's end and the next one's
        # start, "running" is briefly one short.
        if self.bar is not None or self.finished == self.total:
            self._show(force=True)

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.busy

    def eta(self) -> str:
        if self.finished == 0:
            return "?"
        elapsed = time.monotonic() - self.started
        return _duration(elapsed / self.finished * (self.total - self.finished))

    def line(self) -> str:
        busy = f", {self.busy} left to another launcher" if self.busy else ""
        return (f"{self.finished}/{self.total} jobs finished ({self.failed} failed{busy}), "
                f"{self.running} running, ETA {self.eta()}")

    def _show(self, force: bool = False) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"running {self.running}, failed {self.failed}, ETA {self.eta()}")
            return
        now = time.monotonic()
        if force or now - self.last_print >= self.interval_s:
            self.last_print = now
            print(f"sweep: {self.line()}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
