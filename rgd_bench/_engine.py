"""The training loop of one run: DomainBed's protocol, resumable and deterministic."""
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

from rgd_bench._checkpoint import (FORMAT_VERSION, capture_rng_states, load_checkpoint, restore_rng_states,
                                   save_atomically)
from rgd_bench._machine import environment
from rgd_bench._progress import StepProgress
from rgd_bench._runlock import RunLock
from rgd_bench.errors import UsageError
from rgd_bench.protocols import make_protocol
from rgd_bench.rundir import (CHECKPOINT_NAME, ERR_NAME, MODEL_NAME, OUT_NAME, RESULTS_NAME, identity, is_done,
                              mark_done, recorded_args, remove_temporaries, writing)
from rgd_bench.train import RunPlan


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
def _logs_to(output_dir: str):
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


def _seed_everything(seed: int) -> None:
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


def _print_row(row, colwidth: int = 12) -> None:
    def fmt(x):
        if isinstance(x, float):
            x = f"{x:.10f}"
        return str(x).ljust(colwidth)[:colwidth]
    print("  ".join(fmt(x) for x in row))


def _print_header(plan: RunPlan) -> None:
    print("Environment:")
    for name, value in environment(plan.device).items():
        print(f"\t{name}: {value}")
    print("Args:")
    for k, v in sorted(vars(plan.args).items()):
        print(f"\t{k}: {v}")
    print("HParams:")
    for k, v in sorted(plan.hparams.items()):
        print(f"\t{k}: {v}")


def _check_same_run(plan: RunPlan, output_dir: str, stored_args: dict[str, Any] | None) -> None:
    """Refuse a directory that holds a run of other arguments (where it lives aside: a run
    that was moved or copied is the same run and resumes)."""
    if stored_args is None:
        return
    stored, ours = identity(stored_args), identity(plan.recorded_args)
    if stored != ours:
        differing = sorted(k for k in set(stored) | set(ours) if stored.get(k) != ours.get(k))
        raise UsageError(
            f"--output_dir {output_dir!r} holds a run started with other arguments "
            f"(different: {', '.join(differing)}); use another --output_dir or delete that one."
        )


def _load_resumable(plan: RunPlan, output_dir: str) -> dict[str, Any] | None:
    """The checkpoint of an incomplete run of these same arguments, or None."""
    checkpoint_path = os.path.join(output_dir, CHECKPOINT_NAME)
    if not os.path.exists(checkpoint_path):
        return None
    checkpoint = load_checkpoint(checkpoint_path)
    _check_same_run(plan, output_dir, checkpoint["args"])
    return checkpoint


def run(plan: RunPlan) -> RunSummary:
    """Train, evaluate and record one run; resume it if its directory holds a checkpoint."""
    started = time.perf_counter()
    args, hparams, device = plan.args, plan.hparams, plan.device
    output_dir = args.output_dir
    _check_same_run(plan, output_dir, recorded_args(output_dir))
    if is_done(output_dir):
        print(f"{output_dir}: run already complete (found 'done'); nothing to do.", file=sys.stderr)
        return RunSummary(output_dir, "already_done")

    _seed_everything(args.seed)
    protocol = make_protocol(plan)
    algorithm = plan.algorithm_cls(protocol.input_shape, protocol.num_classes, protocol.num_domains, hparams)
    protocol.prepare(algorithm)
    algorithm.to(device)

    with writing(output_dir):
        os.makedirs(output_dir, exist_ok=True)
    with RunLock(output_dir):
        # Another process may have finished or advanced the run while this one was starting.
        if is_done(output_dir):
            return RunSummary(output_dir, "already_done")
        remove_temporaries(output_dir)  # left by a writer that was killed
        checkpoint = _load_resumable(plan, output_dir)
        with _logs_to(output_dir):
            return _Loop(plan, protocol, algorithm, checkpoint, started).run()


class _Loop:
    def __init__(self, plan, protocol, algorithm, checkpoint, started):
        self.plan, self.args, self.hparams, self.device = plan, plan.args, plan.hparams, plan.device
        self.protocol, self.algorithm = protocol, algorithm
        self.started = started
        self.output_dir = self.args.output_dir
        self.results_path = os.path.join(self.output_dir, RESULTS_NAME)
        self.checkpoint_path = os.path.join(self.output_dir, CHECKPOINT_NAME)
        self.n_steps = self.args.steps or protocol.n_steps
        self.checkpoint_freq = self.args.checkpoint_freq or protocol.checkpoint_freq
        self.summary = RunSummary(self.output_dir, "done")
        self.start_step = self._restore(checkpoint)
        self.summary.start_step = self.start_step

    def _logs(self) -> list[str]:
        """The append-only logs, cut back to a checkpoint's sizes on resume."""
        return [self.results_path] + [os.path.join(self.output_dir, n) for n in self.protocol.log_names]

    def _restore(self, checkpoint) -> int:
        _print_header(self.plan)
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
        stream = self.protocol.stream(self.algorithm, self.start_step)
        progress = StepProgress(self.n_steps, self.start_step,
                                f"{self.args.algorithm} on {self.args.dataset}")
        checkpoint_vals = collections.defaultdict(list)
        self.last_keys = None
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
                if self.protocol.is_checkpoint(step, self.checkpoint_freq) or step == self.n_steps - 1:
                    self._record(step, checkpoint_vals)
                    self._save_checkpoint(step + 1)
                    checkpoint_vals = collections.defaultdict(list)
                    if self.args.save_model_every_checkpoint:
                        self._save_model(f"model_step{step}.pkl")
                progress.update(step)
        finally:
            progress.close()
        self._finish()
        return self.summary

    def _record(self, step: int, checkpoint_vals, extra: dict[str, Any] | None = None) -> None:
        epoch = step / self.protocol.steps_per_epoch
        results: dict[str, Any] = {"step": step, "epoch": epoch}
        for key, val in checkpoint_vals.items():
            results[key] = float(np.mean(val))
        started = time.perf_counter()
        results.update(self.protocol.evaluate(self.algorithm, step, self.device, epoch))
        self.summary.eval_s += time.perf_counter() - started
        results["mem_gb"] = _peak_memory_gb(self.device)
        results.update(self.protocol.record_constants)
        results.update(extra or {})
        describe = getattr(self.protocol, "describe_record", None)  # WILDS: a block of short lines
        if describe is not None:
            print(describe(results))
        else:  # DomainBed's table, as DomainBed's own out.txt
            keys = sorted(results)
            if keys != self.last_keys:
                _print_row(keys)
                self.last_keys = keys
            _print_row([results[k] for k in keys])
        results.update({"hparams": self.hparams, "args": self.plan.recorded_args})
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
            "args": self.plan.recorded_args,
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
                "args": self.plan.recorded_args,
                "model_input_shape": self.protocol.input_shape,
                "model_num_classes": self.protocol.num_classes,
                "model_num_domains": self.protocol.num_domains,
                "model_hparams": self.hparams,
                "model_dict": self.algorithm.state_dict(),
            }, path)

    def _finish(self) -> None:
        if not self.args.skip_model_save and self.summary.status == "done":
            self._save_model(MODEL_NAME)
        if os.path.exists(self.checkpoint_path):  # the run is complete: free the disk
            os.remove(self.checkpoint_path)
        with writing(self.output_dir):
            mark_done(self.output_dir)  # last
        self.summary.wall_s = time.perf_counter() - self.started
