"""``multiprocess``: N worker processes, each importing torch once and running many jobs
in-process, so a job costs its training and little else.

Default: one worker per GPU (pinned with CUDA_VISIBLE_DEVICES), else one worker per CPU
core with one torch thread each: on CPU-sized models a run cannot keep two threads busy,
so separate runs use the cores best (``benchmarks/worker_layout.py`` measures it: on 2
cores, 2 workers x 1 thread run 1.8-2.0x the jobs per minute of 1 worker x 2 threads).  The
layout does not change a run's records on the CPU (tested with 1 and 2 threads).

Workers die with the launcher, so killing a sweep frees every run directory
for the next launch.  A worker that crashes (segfault, out of memory) has its job
recorded as failed and is replaced.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import sys

from rgd_bench.sweep.jobs import Outcome, record_outcome, run_with_retries
from rgd_bench.sweep.keys import Option
from rgd_bench.sweep.launchers.base import Launcher
from rgd_bench.sweep.plan import Job
from rgd_bench.values import AT_LEAST_ONE, Spec


def default_workers() -> int:
    import torch

    gpus = torch.cuda.device_count()
    return gpus if gpus else default_layout(os.cpu_count() or 1)[0]


def default_layout(cores: int) -> tuple[int, int]:
    """(workers, torch threads per worker) on a CPU with ``cores`` cores."""
    return max(1, cores), 1


def _default_workers_text() -> str:
    cores = os.cpu_count() or 1
    return f"one per GPU, else {default_layout(cores)[0]} on this machine's {cores} CPU cores"


def _worker(tasks, results, gpu: int | None, threads: int) -> None:
    from rgd_bench.engine.runlock import die_with_parent

    die_with_parent()
    # Each run keeps its own out.txt / err.txt; the sweep's terminal shows the sweep's progress.
    sys.stdout = open(os.devnull, "w")
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import torch

    torch.set_num_threads(threads)
    while True:
        task = tasks.get()
        if task is None:
            return
        index, train_args, sweep_dir, retries = task
        results.put(("start", index, os.getpid()))
        outcome = run_with_retries(Job(train_args, sweep_dir), retries)
        results.put(("finish", index, outcome.status, outcome.error))


class MultiprocessLauncher(Launcher):
    name = "multiprocess"
    OPTIONS = (
        Option("workers", Spec(int, AT_LEAST_ONE), "worker processes", unset=_default_workers_text),
        Option("threads", Spec(int, AT_LEAST_ONE), "torch threads per worker",
               unset="the CPU cores divided among the workers"),
    )

    def __init__(self, workers: int | None = None, threads: int | None = None):
        super().__init__(workers=workers, threads=threads)

    def run(self, jobs, retries, on_start, on_finish):
        if not jobs:
            return
        import torch

        n_workers = min(self.workers or default_workers(), len(jobs))
        gpus = torch.cuda.device_count()
        threads = self.threads or max(1, (os.cpu_count() or 1) // n_workers)
        context = multiprocessing.get_context("spawn")
        tasks, results = context.Queue(), context.Queue()
        for index, job in enumerate(jobs):
            tasks.put((index, job.train_args, job.sweep_dir, retries))
        for _ in range(n_workers):
            tasks.put(None)

        def start(slot: int):
            process = context.Process(target=_worker, args=(tasks, results, slot % gpus if gpus else None, threads),
                                      daemon=True)
            process.start()
            return process

        workers = {slot: start(slot) for slot in range(n_workers)}
        running: dict[int, int] = {}  # worker pid -> job index
        unfinished = set(range(len(jobs)))
        try:
            while unfinished:
                try:
                    message = results.get(timeout=1.0)
                except queue.Empty:
                    self._replace_dead(workers, running, unfinished, jobs, start, on_finish)
                    continue
                if message[0] == "start":
                    _, index, pid = message
                    running[pid] = index
                    on_start(jobs[index])
                else:
                    _, index, status, error = message
                    running = {pid: i for pid, i in running.items() if i != index}
                    unfinished.discard(index)
                    on_finish(jobs[index], Outcome(status, error))
        finally:
            for process in workers.values():
                if process.is_alive():
                    process.kill()
                process.join()

    @staticmethod
    def _replace_dead(workers, running, unfinished, jobs, start, on_finish) -> None:
        for slot, process in list(workers.items()):
            if process.is_alive() or process.exitcode == 0:
                continue
            index = running.pop(process.pid, None)
            if index is not None and index in unfinished:
                outcome = Outcome(Outcome.FAILED, f"the worker process died (exit code {process.exitcode})")
                record_outcome(jobs[index], outcome, attempts=1)
                unfinished.discard(index)
                on_finish(jobs[index], outcome)
            workers[slot] = start(slot)
        if unfinished and not any(p.is_alive() for p in workers.values()):
            for index in sorted(unfinished):  # taken by a worker that died before reporting it
                outcome = Outcome(Outcome.FAILED, "lost: its worker exited before running it")
                record_outcome(jobs[index], outcome, attempts=0)
                on_finish(jobs[index], outcome)
            unfinished.clear()
