"""From a ``RunConfig`` to a ``ResolvedRun``: every check of a run's arguments, made before
anything is written (a sweep makes them for its jobs before it launches any)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rgd_bench.engine.config import EXECUTION_FIELDS, RunConfig, check_fields
from rgd_bench.engine.protocols import Protocol, flags_of_others, protocol_of
from rgd_bench.errors import UsageError
from rgd_bench.hparams import parse_overrides, resolve_hparams
from rgd_bench.plugins import import_plugins
from rgd_bench.registry import ALGORITHMS, DATASETS, lookup

@dataclass(frozen=True)
class ResolvedRun:
    """A checked run: its config, with the protocol's defaults filled in, and what it names."""

    config: RunConfig
    algorithm_cls: type
    dataset_cls: type
    protocol: Protocol
    hparams: dict[str, Any]

    @property
    def recorded_args(self) -> dict[str, Any]:
        """The ``args`` of every record: DomainBed's ``vars(args)``, without the flags that only
        say where or how fast the run executes, and without other protocols' flags."""
        others = flags_of_others(self.protocol)
        args = {name: value for name, value in self.config.as_args().items()
                # plugins only when given: the records of runs without them stay as they were.
                if name not in EXECUTION_FIELDS and name not in others and not (name == "plugins" and value is None)}
        return self.protocol.recorded_args(args)


def resolve(config: RunConfig) -> ResolvedRun:
    """Check ``config`` and look up what it names; a UsageError names the first problem.
    Reads and writes nothing, except the plugins, which it imports (once per process) and
    names by absolute path."""
    check_fields(config)
    config = config.replace(plugins=import_plugins(config.plugins))
    dataset_cls = lookup(DATASETS, config.dataset)
    algorithm_cls = lookup(ALGORITHMS, config.algorithm)
    protocol = protocol_of(dataset_cls)
    config = protocol.complete(config, dataset_cls, algorithm_cls, flags_of_others(protocol))
    try:
        hparams = resolve_hparams(algorithm_cls, dataset_cls, config.hparams_seed, config.trial_seed,
                                  parse_overrides(config.hparams))
    except ValueError as error:
        raise UsageError(str(error)) from None
    return ResolvedRun(config, algorithm_cls, dataset_cls, protocol, hparams)


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {requested}: CUDA is not available on this machine; use cpu or auto.")
    return requested
