"""Sweeps: plan jobs as DomainBed does, run them on any launcher, find them on disk.

A job is a ``RunConfig`` (``plan.Job.config``) in a run directory named by its id; a
launcher runs it through ``rgd_bench.engine.run`` (in process) or ``python -m
rgd_bench.train`` (a fresh interpreter).  May import the engine's ``config``,
``protocols``, ``resolution`` and ``runlock`` (all torch-free), the registries, ``rundir``,
``values``, ``report`` (the leaderboard printed at the end) and, for ``--help``, the train
command's registry listing; never ``integrations``."""
from rgd_bench.sweep.plan import Job, SweepSpec, plan_jobs

__all__ = ["Job", "SweepSpec", "plan_jobs"]
