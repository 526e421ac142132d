"""``run(config)``: one run, from its configuration to its finished run directory."""
from __future__ import annotations

import os
import sys
import time
from typing import Any

from rgd_bench.engine.checkpoint import load_checkpoint
from rgd_bench.engine.config import RunConfig
from rgd_bench.engine.loop import Loop, RunSummary, logs_to, seed_everything
from rgd_bench.engine.resolution import ResolvedRun, resolve, resolve_device
from rgd_bench.rundir import check_writable
from rgd_bench.engine.runlock import RunLock
from rgd_bench.errors import UsageError
from rgd_bench.rundir import CHECKPOINT_NAME, identity, is_done, recorded_args, remove_temporaries, writing


def run(config: RunConfig, show_progress: bool = True) -> RunSummary:
    """Train, evaluate and record one run into ``config.output_dir``; resume it if that
    directory holds a checkpoint of the same run; do nothing if it is complete.

    Every problem with ``config`` is a ``UsageError`` raised before anything is written.
    ``show_progress``: a progress bar (or periodic lines) on the terminal's stderr; a sweep's
    jobs turn it off (the sweep reports progress)."""
    started = time.perf_counter()
    resolved = resolve(config)
    check_writable(resolved.config.output_dir)
    return run_resolved(resolved, resolve_device(resolved.config.device), started, show_progress)


def _check_same_run(resolved: ResolvedRun, stored_args: dict[str, Any] | None) -> None:
    """Refuse a directory that holds a run of other arguments (where it lives aside: a run
    that was moved or copied is the same run and resumes)."""
    if stored_args is None:
        return
    stored, ours = identity(stored_args), identity(resolved.recorded_args)
    if stored != ours:
        differing = sorted(k for k in set(stored) | set(ours) if stored.get(k) != ours.get(k))
        raise UsageError(
            f"--output_dir {resolved.config.output_dir!r} holds a run started with other arguments "
            f"(different: {', '.join(differing)}); use another --output_dir or delete that one."
        )


def _load_resumable(resolved: ResolvedRun) -> dict[str, Any] | None:
    """The checkpoint of an incomplete run of these same arguments, or None."""
    checkpoint_path = os.path.join(resolved.config.output_dir, CHECKPOINT_NAME)
    if not os.path.exists(checkpoint_path):
        return None
    checkpoint = load_checkpoint(checkpoint_path)
    _check_same_run(resolved, checkpoint["args"])
    return checkpoint


def run_resolved(resolved: ResolvedRun, device: str, started: float, show_progress: bool) -> RunSummary:
    output_dir = resolved.config.output_dir
    _check_same_run(resolved, recorded_args(output_dir))
    if is_done(output_dir):
        print(f"{output_dir}: run already complete (found 'done'); nothing to do.", file=sys.stderr)
        return RunSummary(output_dir, "already_done")

    seed_everything(resolved.config.seed)
    data = resolved.protocol.open(resolved)
    algorithm = resolved.algorithm_cls(data.input_shape, data.num_classes, data.num_domains, resolved.hparams)
    data.prepare(algorithm)
    algorithm.to(device)

    with writing(output_dir):
        os.makedirs(output_dir, exist_ok=True)
    with RunLock(output_dir):
        # Another process may have finished or advanced the run while this one was starting.
        if is_done(output_dir):
            return RunSummary(output_dir, "already_done")
        remove_temporaries(output_dir)  # left by a writer that was killed
        checkpoint = _load_resumable(resolved)
        with logs_to(output_dir):
            return Loop(resolved, device, data, algorithm, checkpoint, started, show_progress).run()
