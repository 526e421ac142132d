"""Wall time and peak memory of ``python -m rgd_bench.report`` on about 100,000 records,
side by side with DomainBed's ``collect_results``, and on a 1%-corrupted copy.

Writes a synthetic sweep (by default VLCS and PACS x 5 algorithms x 10 test-environment
sets x 4 hparams x 10 trials = 4,000 runs of 25 checkpoints = 100,000 records), then times
``python -m rgd_bench.report DIR`` in a fresh process per repeat (interpreter start and
imports included: that is what a user waits for) and reports the median wall time and the
child's peak resident memory (from ``os.wait4``).  Targets: <= 0.5 s and <= 100 MiB on an
idle 2-core machine, i.e. at least 16x faster than DomainBed's collect_results (the ratio,
measured in the same run, is the figure that holds across machines).

When DomainBed is importable (put a DomainBed checkout on PYTHONPATH; it needs timm), also
times its ``collect_results`` on the same sweep, prints the ratios and checks that
``--format domainbed`` prints exactly what DomainBed prints.

Then it damages 1% of the record lines of a copy (``synthetic.corrupted_copy``), times the
report on it, and checks that its tables equal those of the clean sweep without those lines
and that it counted exactly the damaged lines as rejected.

    python benchmarks/report_speed.py [--hparams 4] [--trials 10] [--checkpoints 25] [--repeats 3]
    PYTHONPATH=path/to/DomainBed python benchmarks/report_speed.py     # with the comparison
    python benchmarks/report_speed.py --trials 2 --checkpoints 5 --repeats 1   # a quick run
"""
from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time

from rgd_bench.report.build import Report
from rgd_bench.report.formats import renderer
from rgd_bench.report.leaderboard import build_leaderboards
from rgd_bench.report.records import load_sweeps
from rgd_bench.report.selection import SELECTION_METHODS
from rgd_bench.report.synthetic import corrupted_copy, synthetic_sweep

TARGET_S = 0.5
TARGET_MIB = 100
TARGET_RATIO = 16
HEAVY_MODULES = ("torch", "numpy", "matplotlib")


# Linux carries a process's peak RSS across exec (and a vfork'd or forked child starts from
# its parent's), so a child spawned straight from this process would report at least this
# process's own peak.  A fresh, small launcher spawns the command instead and reports the
# command's wall time and rusage from os.wait4: argv = [result file, command...].
LAUNCHER = """\
import os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall_s = time.perf_counter() - started
with open(sys.argv[1], "w") as f:
    f.write(f"{wall_s} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


class Measured:
    """One child process: wall and CPU (user + system) time, peak RSS, exit code, output."""

    def __init__(self, wall_s: float, cpu_s: float, maxrss_mib: float, returncode: int, stdout: str,
                 stderr: str):
        self.wall_s, self.cpu_s, self.maxrss_mib, self.returncode = wall_s, cpu_s, maxrss_mib, returncode
        self.stdout, self.stderr = stdout, stderr


def measure(argv: list[str]) -> Measured:
    """Run ``argv`` (its first item an absolute path) to its end through the launcher."""
    with tempfile.TemporaryDirectory() as tmp:
        result, out, err = (os.path.join(tmp, name) for name in ("result", "stdout", "stderr"))
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            launcher = subprocess.run([sys.executable, "-c", LAUNCHER, result, *argv],
                                      stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        with open(out, encoding="utf-8") as f:
            stdout_text = f.read()
        with open(err, encoding="utf-8") as f:
            stderr_text = f.read()
        if launcher.returncode != 0:
            raise SystemExit(f"could not launch {argv}:\n{stderr_text[-3000:]}")
        with open(result) as f:
            wall_s, cpu_s, maxrss_kib, returncode = f.read().split()
    return Measured(float(wall_s), float(cpu_s), int(maxrss_kib) / 1024,  # ru_maxrss is in KiB on Linux
                    int(returncode), stdout_text, stderr_text)


class Timing:
    """Medians over repeated fresh processes of one command, and the last run's output."""

    def __init__(self, runs: list[Measured]):
        self.wall_s = statistics.median(r.wall_s for r in runs)
        self.cpu_s = statistics.median(r.cpu_s for r in runs)
        self.mib = statistics.median(r.maxrss_mib for r in runs)
        self.last = runs[-1]

    def line(self, label: str, target: bool = False) -> str:
        text = f"  {label:<40} {self.wall_s:6.2f} s (CPU {self.cpu_s:5.2f} s), {self.mib:5.0f} MiB"
        if target:
            ok = self.wall_s <= TARGET_S and self.mib <= TARGET_MIB
            text += f"  (target <= {TARGET_S:g} s, <= {TARGET_MIB} MiB: {'met' if ok else 'MISSED'})"
        return text


def measure_repeated(argv: list[str], repeats: int, what: str) -> Timing:
    runs = []
    for _ in range(repeats):
        run = measure(argv)
        if run.returncode != 0:
            raise SystemExit(f"{what} failed (exit code {run.returncode}):\n{run.stderr[-3000:]}")
        runs.append(run)
    return Timing(runs)


def busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and its waited-for descendants."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def other_processes_share(started: float, busy_before: float | None, own_before: float) -> float | None:
    """CPUs' worth kept busy by processes other than this benchmark's since ``started``."""
    busy_after = busy_cpu_s()
    if busy_before is None or busy_after is None:
        return None
    others = (busy_after - busy_before) - (own_cpu_s() - own_before)
    return max(0.0, others) / (time.perf_counter() - started)


def imported_modules(sweep_dir: str) -> set[str]:
    """Top-level modules the report imports, from ``python -X importtime``."""
    run = measure([sys.executable, "-X", "importtime", "-m", "rgd_bench.report", sweep_dir, "--format", "text"])
    if run.returncode != 0:
        raise SystemExit(f"rgd_bench report failed (exit code {run.returncode}):\n{run.stderr[-3000:]}")
    modules = set()
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            modules.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return modules


def in_process_split(sweep_dir: str, repeats: int) -> dict[str, float]:
    """Median seconds per stage when called through the Python API (imports excluded)."""
    methods = list(dict.fromkeys(SELECTION_METHODS.values()))
    render_text, render_domainbed = renderer("text"), renderer("domainbed")
    stages: dict[str, list[float]] = {"load": [], "selection + tables": [], "render text": [],
                                      "render domainbed": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        sweep = load_sweeps([sweep_dir])
        t1 = time.perf_counter()
        boards = build_leaderboards(sweep.runs, methods, "ERM")
        t2 = time.perf_counter()
        report = Report([sweep_dir], sweep, boards)
        render_text(report)
        t3 = time.perf_counter()
        render_domainbed(report)
        t4 = time.perf_counter()
        for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[stage].append(seconds)
    return {stage: statistics.median(values) for stage, values in stages.items()}


def profile(sweep_dir: str, top: int) -> str:
    """The ``top`` functions by own time for load + selection + text tables, in-process."""
    methods = list(dict.fromkeys(SELECTION_METHODS.values()))
    render_text = renderer("text")
    profiler = cProfile.Profile()
    profiler.enable()
    sweep = load_sweeps([sweep_dir])
    render_text(Report([sweep_dir], sweep, build_leaderboards(sweep.runs, methods, "ERM")))
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def first_difference(a: str, b: str) -> str:
    a_lines, b_lines = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(a_lines, b_lines)):
        if x != y:
            return f"line {i + 1}:\n    rgd_bench: {x!r}\n    DomainBed: {y!r}"
    return f"{len(a_lines)} lines against {len(b_lines)} lines"


def benchmark(sweep_dir: str, n_runs: int, options) -> None:
    sweep = load_sweeps([sweep_dir])
    print(f"records: {sweep.n_records} runs: {n_runs} (run directories found: {sweep.n_run_dirs})")
    print(f"medians of {options.repeats} fresh process(es) each (interpreter start and imports included)")
    window = time.perf_counter(), busy_cpu_s(), own_cpu_s()
    report = [sys.executable, "-m", "rgd_bench.report", sweep_dir]
    bare = measure_repeated([sys.executable, "-c", "pass"], options.repeats, "python")
    startup = measure_repeated([sys.executable, "-c", "import rgd_bench.report.cli, rgd_bench.report.formats"
                                ".terminal, rgd_bench.report.formats.domainbed_text"],
                               options.repeats, "importing rgd_bench.report")
    text = measure_repeated(report + ["--format", "text"], options.repeats, "rgd_bench report")
    ours = measure_repeated(report + ["--format", "domainbed"], options.repeats, "rgd_bench report")
    print(bare.line("python start alone (machine speed):"))
    print(startup.line("python start + rgd_bench.report imports:"))
    print(text.line("rgd_bench report (text):", target=True))
    print(ours.line("rgd_bench report (domainbed):", target=True))
    compare_with_domainbed(sweep_dir, text, ours, options)
    others = other_processes_share(*window)
    if others is not None and others > 0.1:
        print(f"  note: other processes kept {100 * others:.0f}% of a CPU busy meanwhile ({os.cpu_count()} CPUs): "
              "wall times may be inflated (CPU times less so)")
    check_corrupted_copy(sweep_dir, text, options)

    split = in_process_split(sweep_dir, options.repeats)
    print("in-process split (Python API, imports excluded, median): "
          + ", ".join(f"{stage} {seconds:.3f} s" for stage, seconds in split.items()))

    modules = imported_modules(sweep_dir)
    print(f"torch imported: {'yes' if 'torch' in modules else 'no'} ("
          + ", ".join(f"{m}: {'yes' if m in modules else 'no'}" for m in HEAVY_MODULES[1:]) + ")")

    if options.profile:
        print(f"\ncProfile of load + selection + text tables in-process (top {options.profile}):")
        print(profile(sweep_dir, options.profile))


def compare_with_domainbed(sweep_dir: str, text: Timing, ours: Timing, options) -> None:
    """DomainBed's collect_results on the same records: the ratios, and the same output."""
    if options.skip_domainbed:
        print("  DomainBed collect_results: skipped (--skip-domainbed)")
        return
    if importlib.util.find_spec("domainbed") is None:
        print("  DomainBed collect_results: skipped, domainbed is not importable "
              "(to compare, put a DomainBed checkout on PYTHONPATH: PYTHONPATH=path/to/DomainBed)")
        return
    results_txt = os.path.join(sweep_dir, "results.txt")
    existed = os.path.exists(results_txt)
    try:  # collect_results writes results.txt into its input directory
        theirs = measure_repeated(
            [sys.executable, "-m", "domainbed.scripts.collect_results", "--input_dir", sweep_dir],
            options.repeats, "DomainBed collect_results")
    finally:
        if not existed and os.path.exists(results_txt):
            os.remove(results_txt)
    print(theirs.line("DomainBed collect_results:"))
    for label, mine in (("text", text), ("domainbed", ours)):
        ratio = theirs.wall_s / mine.wall_s
        print(f"  {'rgd_bench (' + label + ') vs DomainBed:':<40} {ratio:6.1f}x faster "
              f"(CPU {theirs.cpu_s / mine.cpu_s:.1f}x), {theirs.mib / mine.mib:.1f}x less memory  "
              f"(target >= {TARGET_RATIO}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'})")
    same = ours.last.stdout == theirs.last.stdout
    print(f"  identical output (--format domainbed vs collect_results stdout): {'yes' if same else 'no'}")
    if not same:
        print(f"  first difference at {first_difference(ours.last.stdout, theirs.last.stdout)}")


def check_corrupted_copy(sweep_dir: str, clean: Timing, options) -> None:
    """1% of the lines damaged: the time, the exact count, and the clean tables without them."""
    with tempfile.TemporaryDirectory(prefix="report_speed-corrupt-") as root:
        corrupted, expected = os.path.join(root, "corrupted"), os.path.join(root, "expected")
        damaged = corrupted_copy(sweep_dir, corrupted, expected, share=0.01)
        timing = measure_repeated([sys.executable, "-m", "rgd_bench.report", corrupted, "--format", "text"],
                                  options.repeats, "rgd_bench report on the corrupted copy")
        reference = subprocess.run([sys.executable, "-m", "rgd_bench.report", expected, "--format", "text"],
                                   capture_output=True, text=True, check=True).stdout
    print(timing.line(f"rgd_bench report, {damaged} lines damaged:") + f"  ({timing.wall_s / clean.wall_s:.2f}x "
          "the clean sweep's time)")
    found = re.search(r"^(\d+) of (\d+) line\(s\) in results\.jsonl files rejected", timing.last.stdout, re.M)
    counted = int(found.group(1)) if found else 0
    same = tables_of(timing.last.stdout) == tables_of(reference)
    print(f"  rejected lines counted: {counted} of {damaged} damaged ({'exact' if counted == damaged else 'WRONG'}); "
          f"tables equal the clean sweep's without them: {'yes' if same else 'NO'}")


def tables_of(text: str) -> str:
    """The report's tables and notes, without the summary lines above them."""
    return text[text.index("\n--------"):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="VLCS:4,PACS:4", help="NAME:N_ENVS,... (default: VLCS:4,PACS:4)")
    parser.add_argument("--algorithms", default="ERM,GroupDRO,RGD,SGD_HWS,ALSO")
    parser.add_argument("--hparams", type=int, default=4, help="hparams draws per test-env set (default: 4)")
    parser.add_argument("--trials", type=int, default=10, help="trials per hparams draw (default: 10)")
    parser.add_argument("--checkpoints", type=int, default=25, help="records per run (default: 25)")
    parser.add_argument("--no-pairs", action="store_true", help="single test environments only")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per command (default: 3)")
    parser.add_argument("--keep", metavar="DIR", help="write the sweep here and keep it (reused if it has runs)")
    parser.add_argument("--skip-domainbed", action="store_true", help="do not time DomainBed even if importable")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the top N functions of an in-process cProfile")
    options = parser.parse_args()
    datasets = []
    for item in options.datasets.split(","):
        name, _, n_envs = item.partition(":")
        datasets.append((name, int(n_envs or 4)))
    algorithms = [a for a in options.algorithms.split(",") if a]

    def generate(sweep_dir: str) -> int:
        started = time.perf_counter()
        n = synthetic_sweep(sweep_dir, datasets=datasets, algorithms=algorithms, n_hparams=options.hparams,
                            n_trials=options.trials, n_checkpoints=options.checkpoints,
                            pairs=not options.no_pairs)
        print(f"wrote a synthetic sweep of {n} runs to {sweep_dir} in {time.perf_counter() - started:.1f} s")
        return n

    if options.keep:
        existing = load_sweeps([options.keep]).runs if os.path.isdir(options.keep) else []
        if existing:
            print(f"reusing the sweep in {options.keep}")
        benchmark(options.keep, len(existing) or generate(options.keep), options)
    else:
        with tempfile.TemporaryDirectory(prefix="report_speed-") as sweep_dir:
            benchmark(sweep_dir, generate(sweep_dir), options)


if __name__ == "__main__":
    main()
