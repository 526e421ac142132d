"""The launcher interface: run a list of jobs to the end, reporting as they go."""
from __future__ import annotations

from typing import Any, Callable

from rgd_bench.sweep.jobs import Outcome
from rgd_bench.sweep.keys import Option
from rgd_bench.sweep.plan import Job
from rgd_bench.values import AT_LEAST_ONE, NON_NEGATIVE, Spec

Report = Callable[[Job, Outcome], None]

# Options that more than one launcher reads, declared once; a launcher may give its own default
# (``CPUS_PER_JOB.but(default=2)``), and --help shows each launcher's.
CPUS_PER_JOB = Option("cpus_per_job", Spec(int, AT_LEAST_ONE), "CPUs per job")
GPUS_PER_JOB = Option("gpus_per_job", Spec(int, NON_NEGATIVE), "GPUs per job", default=0)


class Launcher:
    """Runs jobs; calls ``on_start(job)`` and ``on_finish(job, outcome)`` as they happen.

    Every launcher runs a job through the training engine, which locks its run directory
    and resumes from its checkpoint; launchers only decide where and when."""

    name = ""
    # The launcher's settings, each a sweep key (--name and a sweep file's name): the launcher
    # gets them as keyword arguments and holds them as attributes (the default where unset).
    OPTIONS: tuple[Option, ...] = ()
    # Whether ``run`` may be given jobs that an earlier launch left queued or running on Slurm
    # (``slurm_tickets``), to wait on them rather than run them again.
    WAITS_ON_SLURM_JOBS = False

    def __init__(self, **options: Any):
        declared = {option.name: option for option in self.OPTIONS}
        unknown = sorted(set(options) - set(declared))
        if unknown:
            raise TypeError(f"The {self.name} launcher has no option {unknown[0]!r}; "
                            f"its options: {', '.join(declared) or 'none'}.")
        for name, option in declared.items():
            value = options.get(name)
            setattr(self, name, option.default if value is None else value)

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Launcher:
        """The launcher with its options from a sweep's settings (keys it does not read ignored)."""
        return cls(**{option.name: settings.get(option.name) for option in cls.OPTIONS})

    def run(self, jobs: list[Job], retries: int, on_start: Callable[[Job], None], on_finish: Report) -> None:
        raise NotImplementedError
