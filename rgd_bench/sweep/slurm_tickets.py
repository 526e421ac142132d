"""Which jobs of a sweep Slurm holds: a ticket in each run directory, and the queue.

When the submitit launcher hands a job to Slurm it writes ``scheduled.json`` (``TICKET_NAME``)
in the job's run directory: the Slurm job id and the submitit folder.  Slurm's jobs outlive the
process that submitted them, so a relaunched sweep (after a crash, a ``kill -9``, a closed
terminal) reads the tickets and asks ``squeue`` which of those jobs are still queued or
running: those are waited on, never submitted twice.  A ticket is live only while ``squeue``
lists its id with a batch script in the ticket's folder, so a stale ticket (the job ended, or a
wiped cluster that numbers jobs from 1 again) never stands for another sweep's job.

``sacct`` is never asked: many clusters (and any cluster without accounting) lack it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import msgspec

from rgd_bench.rundir import TICKET_NAME, atomic_file
from rgd_bench.sweep.plan import Job

SQUEUE_TIMEOUT_S = 60


class Ticket(msgspec.Struct, frozen=True):
    """A job's place on Slurm: ``slurm_id`` as submitit names it (``12_3`` in an array)."""

    slurm_id: str
    folder: str
    submitted: float


def ticket_path(job: Job) -> str:
    return os.path.join(job.output_dir, TICKET_NAME)


def write_ticket(job: Job, slurm_id: str, folder: str) -> None:
    os.makedirs(job.output_dir, exist_ok=True)
    with atomic_file(ticket_path(job), "wb") as f:
        f.write(msgspec.json.encode(Ticket(slurm_id, os.path.realpath(folder), time.time())))


def read_ticket(job: Job) -> Ticket | None:
    try:
        with open(ticket_path(job), "rb") as f:
            return msgspec.json.decode(f.read(), type=Ticket)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None  # no ticket, or one cut short: the job is not known to be on Slurm


def slurm_queue() -> dict[str, tuple[str, str]] | None:
    """Every job of this user that Slurm holds (pending, running, completing...), by id:
    ``{"12_3": ("RUNNING", "/folder/.submission_file_x.sh")}``.  None where there is no
    ``squeue`` or it cannot reach a controller."""
    if not shutil.which("squeue"):
        return None
    try:
        result = subprocess.run(["squeue", "--noheader", "--array", "--me", "--format=%i|%T|%o"],
                                capture_output=True, text=True, timeout=SQUEUE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    queue = {}
    for line in result.stdout.splitlines():
        slurm_id, state, command = (line.split("|", 2) + ["", ""])[:3]
        queue[slurm_id.strip()] = (state.strip(), command.strip())
    return queue


def is_live(ticket: Ticket, queue: dict[str, tuple[str, str]]) -> bool:
    entry = queue.get(ticket.slurm_id)
    try:
        return entry is not None and os.path.dirname(os.path.realpath(entry[1])) == ticket.folder
    except ValueError:  # not a path (a NUL byte)
        return False


def live_tickets(jobs: list[Job]) -> dict[str, Ticket]:
    """The tickets of ``jobs`` whose Slurm job is still queued or running, by job id."""
    tickets = {job.job_id: ticket for job in jobs if (ticket := read_ticket(job)) is not None}
    if not tickets:
        return {}
    queue = slurm_queue()
    if queue is None:
        return {}
    return {job_id: ticket for job_id, ticket in tickets.items() if is_live(ticket, queue)}
