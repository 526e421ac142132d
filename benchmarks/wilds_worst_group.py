"""Worst-group test accuracy of ERM, GroupDRO, RGD, SGD_HWS and ALSO on WILDS's
``synthetic_waterbirds``, under the WILDS protocol.

Groups are label x background; the two minority groups are rare in train, val and test
are balanced.  Each run is ``python -m rgd_bench.train`` with the dataset's default steps
(20 epochs, evaluated after each); each run keeps the checkpoint with the best validation
worst-group accuracy (WILDS's early stopping, the first among equals), and the table shows
that checkpoint's test worst-group and average accuracy as mean +/- std (ddof=1) over
seeds, with the difference of the means to ERM.  Hyperparameters are the algorithms'
defaults unless ``--hparams-for`` overrides them.

    python benchmarks/wilds_worst_group.py [--seeds 3] [--workers 2] [--keep DIR]
        [--hparams-for 'ALSO={"pi_lr": 0.1}' --hparams-for 'RGD={"rgd_clip": 10.0}']
        [--uniform_over_groups true]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from rgd_bench.rundir import RESULTS_NAME

DATASET = "synthetic_waterbirds"
ALGORITHMS = ["ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO"]
STDERR_LINES = 20
# Draws its own (hardness-weighted) examples: the loader's group weighting does not apply.
SAMPLES_OWN_EXAMPLES = ("SGD_HWS",)


def parse_overrides(parser: argparse.ArgumentParser, pairs: list[str], algorithms: list[str]) -> dict[str, dict]:
    overrides, problems = {}, []
    for pair in pairs:
        name, sep, text = pair.partition("=")
        try:
            value = json.loads(text) if sep else None
        except json.JSONDecodeError as error:
            value, problem = None, f"{pair!r} is not ALGO=JSON ({error})"
        else:
            problem = f"{pair!r} is not ALGO=JSON with a JSON object" if not isinstance(value, dict) else None
        if problem is None and name not in algorithms:
            problem = f"{name!r} of {pair!r} is not among --algorithms {algorithms}"
        if problem is None and name in overrides:
            problem = f"--hparams-for {name} is given twice; put all its keys in one JSON object"
        if problem:
            problems.append(problem)
        else:
            overrides[name] = value
    if problems:
        parser.error("; ".join(problems))
    # Check the names and values here, before the first run, rather than once per run.
    from rgd_bench.hparams import resolve_hparams  # imports torch: after argparse's --help
    from rgd_bench.registry import ALGORITHMS as REGISTRY, DATASETS
    for name, values in overrides.items():
        try:
            resolve_hparams(REGISTRY.get(name), DATASETS.get(DATASET), 0, 0, values)
        except (KeyError, ValueError, TypeError) as error:
            parser.error(f"--hparams-for {name}: {error}")
    return overrides


def train_argv(name: str, seed: int, output_dir: str, options, overrides: dict | None) -> list[str]:
    argv = [sys.executable, "-m", "rgd_bench.train", "--dataset", DATASET, "--algorithm", name, "--no_progress",
            "--seed", str(seed), "--trial_seed", str(seed), "--output_dir", output_dir, "--skip_model_save"]
    if options.steps is not None:
        argv += ["--steps", str(options.steps)]
    if options.checkpoint_freq is not None:
        argv += ["--checkpoint_freq", str(options.checkpoint_freq)]
    if overrides:
        argv += ["--hparams", json.dumps(overrides, sort_keys=True)]
    if options.uniform_over_groups is not None and name not in SAMPLES_OWN_EXAMPLES:
        argv += ["--uniform_over_groups", options.uniform_over_groups]
    return argv


def run_dir(root: str, name: str, seed: int, options, overrides: dict | None) -> str:
    # Settings in the name: with --keep, a rerun with the same settings reuses finished runs
    # (the engine says so and does nothing) and other settings never meet them.
    uniform = None if name in SAMPLES_OWN_EXAMPLES else options.uniform_over_groups
    settings = json.dumps([options.steps, options.checkpoint_freq, overrides, uniform], sort_keys=True)
    return os.path.join(root, f"{name}-{hashlib.md5(settings.encode()).hexdigest()[:8]}", f"seed{seed}")


def early_stopped(results_path: str) -> dict:
    """The checkpoint with the best val_acc_wg (NaN skipped; the first among equals)."""
    with open(results_path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    best = None
    for record in records:
        value = record["val_acc_wg"]
        if not math.isnan(value) and (best is None or value > best["val_acc_wg"]):
            best = record
    if best is None:
        raise ValueError(f"{results_path}: no checkpoint has a finite val_acc_wg")
    return {**best, "diverged": any(r.get("diverged") for r in records)}


def child_env(workers: int) -> dict[str, str]:
    # Torch's default of one thread per core, times --workers runs, oversubscribes the
    # cores: on 2 cores each run took twice as long.  A thread count the user set wins.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {"OMP_NUM_THREADS": str(max(1, cores // workers)), **os.environ}


def train(name: str, seed: int, argv: list[str], output_dir: str, env: dict[str, str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-STDERR_LINES:])
        raise RuntimeError(f"{name} seed {seed} exited with {done.returncode}; the end of its stderr:\n{tail}")
    return {**early_stopped(os.path.join(output_dir, RESULTS_NAME)), "wall_s": time.perf_counter() - started}


def spread(values: list[float]) -> str:
    error = f"{statistics.stdev(values):4.1f}" if len(values) > 1 else " n/a"
    return f"{statistics.mean(values):5.1f} +/- {error}"


def print_table(results: dict[str, list[dict]], overrides: dict[str, dict], uniform: str | None) -> None:
    erm = results.get("ERM")
    print(f"\n{'algorithm':<10} {'val acc_wg':>15} {'test acc_wg':>15} {'test acc_avg':>15} "
          f"{'wg - ERM':>9} {'avg - ERM':>9}   early-stopping step per seed")
    for name, runs in results.items():
        column = {key: [100 * run[key] for run in runs] for key in ("val_acc_wg", "test_acc_wg", "test_acc_avg")}
        if erm and name != "ERM":
            deltas = [statistics.mean(column[key]) - statistics.mean(100 * run[key] for run in erm)
                      for key in ("test_acc_wg", "test_acc_avg")]
            delta = f"{deltas[0]:>+9.1f} {deltas[1]:>+9.1f}"
        else:
            delta = f"{'':>9} {'':>9}"
        label = name + ("*" if name in overrides else "")
        print(f"{label:<10} {spread(column['val_acc_wg']):>15} {spread(column['test_acc_wg']):>15} "
              f"{spread(column['test_acc_avg']):>15} {delta}   {', '.join(str(run['step']) for run in runs)}")
    for name, values in overrides.items():
        print(f"  * {name} with {json.dumps(values, sort_keys=True)}")
    if uniform is not None:
        own = [name for name in results if name in SAMPLES_OWN_EXAMPLES]
        print(f"  --uniform_over_groups {uniform} for every algorithm"
              + (f" but {', '.join(own)}, which draws its own examples" if own else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (each is --seed and --trial_seed)")
    parser.add_argument("--algorithms", nargs="+", default=ALGORITHMS)
    parser.add_argument("--hparams-for", action="append", default=[], metavar="ALGO=JSON",
                        help="hparam overrides of one algorithm, e.g. 'ALSO={\"pi_lr\": 0.1}' (repeatable)")
    parser.add_argument("--steps", type=int, default=None, help="default: the dataset's (640)")
    parser.add_argument("--checkpoint_freq", type=int, default=None, help="default: the dataset's (32)")
    parser.add_argument("--uniform_over_groups", choices=("true", "false"), default=None,
                        help="group-uniform batches for every algorithm (default: each algorithm's; "
                             "GroupDRO's are, as in WILDS): separates sampling from reweighting")
    parser.add_argument("--workers", type=int, default=2, help="runs at once, one process each")
    parser.add_argument("--keep", metavar="DIR", default=None, help="keep the runs here (default: a temporary folder)")
    options = parser.parse_args()
    if options.seeds < 1 or options.workers < 1:
        parser.error("--seeds and --workers must be at least 1")
    overrides = parse_overrides(parser, options.hparams_for, options.algorithms)
    seeds = list(range(options.seeds))
    print(f"{DATASET}: {', '.join(options.algorithms)}; seeds {seeds}; {options.workers} worker(s)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        root = options.keep or scratch
        jobs, env = {}, child_env(options.workers)
        with concurrent.futures.ThreadPoolExecutor(options.workers) as pool:
            for name in options.algorithms:
                for seed in seeds:
                    directory = run_dir(root, name, seed, options, overrides.get(name))
                    argv = train_argv(name, seed, directory, options, overrides.get(name))
                    jobs[pool.submit(train, name, seed, argv, directory, env)] = (name, seed)
            results, failures = {}, []
            for n, future in enumerate(concurrent.futures.as_completed(jobs), 1):
                name, seed = jobs[future]
                try:
                    run = future.result()
                except (RuntimeError, OSError, ValueError, KeyError) as error:
                    failures.append(str(error))
                    print(f"[{n}/{len(jobs)}] {name} seed {seed}: FAILED", flush=True)
                    continue
                results[(name, seed)] = run
                print(f"[{n}/{len(jobs)}] {name} seed {seed}: test acc_wg {100 * run['test_acc_wg']:.1f} at step "
                      f"{run['step']}{' (diverged later)' if run['diverged'] else ''}, {run['wall_s']:.0f} s", flush=True)
    complete = {name: [results[(name, s)] for s in seeds] for name in options.algorithms
                if all((name, s) in results for s in seeds)}
    if complete:
        print_table(complete, overrides, options.uniform_over_groups)
    print(f"\nwall time: {time.perf_counter() - started:.0f} s" + (f"; runs kept in {root}" if options.keep else ""))
    if failures:
        print(f"\n{len(failures)} run(s) failed:", file=sys.stderr)
        for failure in failures:
            print(failure, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
