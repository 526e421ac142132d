"""The training loop of one run: steps, records, checkpoints and the logs, resumable and
deterministic.  ``rgd_bench.engine.runner`` sets it up."""
from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rgd_bench.engine.checkpoint import FORMAT_VERSION, capture_rng_states, restore_rng_states, save_atomically
from rgd_bench._machine import environment
from rgd_bench.engine.batches import ForAlgorithm
from rgd_bench.engine.progress import StepProgress
from rgd_bench.engine.resolution import ResolvedRun
from rgd_bench.rundir import CHECKPOINT_NAME, ERR_NAME, MODEL_NAME, OUT_NAME, RESULTS_NAME, mark_done, writing


@dataclass
class RunSummary:
    """What a run did, with the time it spent where (for benchmarks and sweeps)."""

    output_dir: str
    status: str  # "done", "already_done" or "diverged"
    start_step: int = 0
    steps_run: int = 0
    wall_s: float = 0.0
    update_s: float = 0.0
    eval_s: float = 0.0
    exit_code: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)


class _Tee:
    """Copy a stream into a log file (DomainBed's ``misc.Tee``); a failed write of the log
    (a full disk) is a StorageError naming it."""

    def __init__(self, path: str, stream):
        self.stream, self.path = stream, path
        with writing(path):
            self.file = open(path, "a", encoding="utf-8")

    def write(self, message: str) -> None:
        self.stream.write(message)
        with writing(self.path):
            self.file.write(message)
            self.file.flush()

    def flush(self) -> None:
        self.stream.flush()
        with writing(self.path):
            self.file.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # what could not be written was reported already
            self.file.close()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def logs_to(output_dir: str):
    saved = sys.stdout, sys.stderr
    sys.stdout = _Tee(os.path.join(output_dir, OUT_NAME), saved[0])
    try:
        sys.stderr = _Tee(os.path.join(output_dir, ERR_NAME), saved[1])
        yield
    finally:
        for tee in (sys.stdout, sys.stderr):
            if isinstance(tee, _Tee):
                tee.close()
        sys.stdout, sys.stderr = saved


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _peak_memory_gb(device: str) -> float:
    """Peak CUDA memory as DomainBed records it; on the CPU, the process's peak RSS."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 1024.0**3
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0**2


def _print_header(run: ResolvedRun, device: str) -> None:
    print("Environment:")
    for name, value in environment(device).items():
        print(f"\t{name}: {value}")
    print("Args:")
    for k, v in sorted(run.config.as_args().items()):
        print(f"\t{k}: {v}")
    print("HParams:")
    for k, v in sorted(run.hparams.items()):
        print(f"\t{k}: {v}")


class Loop:
    """Steps from the checkpoint (or 0) to the end: update, record and checkpoint, and at the
    end the model and ``done``.  ``data`` is the protocol's (``Protocol.open``)."""

    def __init__(self, run: ResolvedRun, device: str, data, algorithm, checkpoint, started: float,
                 show_progress: bool):
        self.resolved, self.config, self.hparams, self.device = run, run.config, run.hparams, device
        self.recorded_args = run.recorded_args
        self.data, self.algorithm = data, algorithm
        self.started, self.show_progress = started, show_progress
        self.output_dir = self.config.output_dir
        self.results_path = os.path.join(self.output_dir, RESULTS_NAME)
        self.checkpoint_path = os.path.join(self.output_dir, CHECKPOINT_NAME)
        self.n_steps = self.config.steps or data.n_steps
        self.checkpoint_freq = self.config.checkpoint_freq or data.checkpoint_freq
        self.summary = RunSummary(self.output_dir, "done")
        algorithm.bind_total_steps(self.n_steps)
        self.start_step = self._restore(checkpoint)
        self.summary.start_step = self.start_step

    def _logs(self) -> list[str]:
        """The append-only logs, cut back to a checkpoint's sizes on resume."""
        return [self.results_path] + [os.path.join(self.output_dir, n) for n in self.data.log_names]

    def _restore(self, checkpoint) -> int:
        _print_header(self.resolved, self.device)
        if checkpoint is None:
            for path in self._logs():  # records without a checkpoint: start over
                if os.path.exists(path):
                    with writing(path):
                        os.truncate(path, 0)
            return 0
        self.algorithm.load_training_state(checkpoint["algorithm"])
        restore_rng_states(checkpoint["rng"])
        sizes = {RESULTS_NAME: checkpoint["results_size"], **checkpoint.get("log_sizes", {})}
        for path in self._logs():  # drop what was written after the checkpoint
            if os.path.exists(path):
                with writing(path):
                    os.truncate(path, sizes.get(os.path.basename(path), 0))
        print(f"Resuming from the checkpoint at step {checkpoint['next_step']}.")
        return checkpoint["next_step"]

    def run(self) -> RunSummary:
        stream = ForAlgorithm(self.algorithm, self.data.stream(self.algorithm, self.start_step))
        progress = StepProgress(self.n_steps, self.start_step, f"{self.config.algorithm} on {self.config.dataset}",
                                shown=self.show_progress)
        checkpoint_vals = collections.defaultdict(list)
        try:
            for step in range(self.start_step, self.n_steps):
                step_start = time.time()
                minibatches = [tuple(t.to(self.device) for t in batch) for batch in next(stream)]
                update_start = time.perf_counter()
                step_vals = self.algorithm.update(minibatches, None)
                self.summary.update_s += time.perf_counter() - update_start
                checkpoint_vals["step_time"].append(time.time() - step_start)
                for key, val in step_vals.items():
                    checkpoint_vals[key].append(val)
                self.summary.steps_run += 1
                bad = {k: v for k, v in step_vals.items() if not math.isfinite(v)}
                if bad:
                    self._diverge(step, bad, checkpoint_vals)
                    break
                if self.data.is_checkpoint(step, self.checkpoint_freq) or step == self.n_steps - 1:
                    self._record(step, checkpoint_vals)
                    self._save_checkpoint(step + 1)
                    checkpoint_vals = collections.defaultdict(list)
                    if self.config.save_model_every_checkpoint:
                        self._save_model(f"model_step{step}.pkl")
                progress.update(step)
        finally:
            progress.close()
        self._finish()
        return self.summary

    def _record(self, step: int, checkpoint_vals, extra: dict[str, Any] | None = None) -> None:
        epoch = step / self.data.steps_per_epoch
        results: dict[str, Any] = {"step": step, "epoch": epoch}
        for key, val in checkpoint_vals.items():
            results[key] = float(np.mean(val))
        started = time.perf_counter()
        results.update(self.data.evaluate(self.algorithm, step, self.device, epoch))
        self.summary.eval_s += time.perf_counter() - started
        results["mem_gb"] = _peak_memory_gb(self.device)
        results.update(self.data.record_constants)
        results.update(extra or {})
        print(self.data.describe_record(results))  # to out.txt, as the protocol's own runs show it
        results.update({"hparams": self.hparams, "args": self.recorded_args})
        self._append(json.dumps(results, sort_keys=True) + "\n")
        self.summary.records.append(results)

    def _append(self, line: str) -> None:
        """Append a record whole or not at all: a failed write (a full disk) is cut off again,
        so that the file never ends in a partial line."""
        size = os.path.getsize(self.results_path) if os.path.exists(self.results_path) else 0
        with writing(self.results_path):
            try:
                with open(self.results_path, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError:
                os.truncate(self.results_path, size)
                raise

    def _save_checkpoint(self, next_step: int) -> None:
        with writing(self.checkpoint_path):
            self._write_checkpoint(next_step)

    def _write_checkpoint(self, next_step: int) -> None:
        save_atomically({
            "format": FORMAT_VERSION,
            "next_step": next_step,
            "args": self.recorded_args,
            "algorithm": self.algorithm.training_state(),
            "rng": capture_rng_states(),
            "results_size": os.path.getsize(self.results_path),
            "log_sizes": {os.path.basename(p): os.path.getsize(p) for p in self._logs()[1:] if os.path.exists(p)},
        }, self.checkpoint_path)

    def _diverge(self, step: int, bad: dict[str, float], checkpoint_vals) -> None:
        what = ", ".join(f"{k}={v}" for k, v in bad.items())
        self._record(step, checkpoint_vals, {"diverged": True})
        self.summary.status = "diverged"
        print(f"Run diverged at step {step}: {what} is not finite. Recorded as diverged in "
              f"{self.results_path}; try a smaller lr.", file=sys.stderr)

    def _save_model(self, filename: str) -> None:
        path = os.path.join(self.output_dir, filename)
        with writing(path):
            save_atomically({
                "args": self.recorded_args,
                "model_input_shape": self.data.input_shape,
                "model_num_classes": self.data.num_classes,
                "model_num_domains": self.data.num_domains,
                "model_hparams": self.hparams,
                "model_dict": self.algorithm.state_dict(),
            }, path)

    def _finish(self) -> None:
        if not self.config.skip_model_save and self.summary.status == "done":
            self._save_model(MODEL_NAME)
        if os.path.exists(self.checkpoint_path):  # the run is complete: free the disk
            os.remove(self.checkpoint_path)
        with writing(self.output_dir):
            mark_done(self.output_dir)  # last
        self.summary.wall_s = time.perf_counter() - self.started
