"""Sweeps: plan jobs as DomainBed does, run them on any launcher, find them on disk."""
from rgd_bench.sweep.plan import Job, SweepSpec, plan_jobs

__all__ = ["Job", "SweepSpec", "plan_jobs"]
