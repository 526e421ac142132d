"""What every protocol declares and does (``Protocol``), and a protocol-only flag (``Flag``)."""
from __future__ import annotations

import argparse
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from rgd_bench.errors import UsageError
from rgd_bench.values import Spec


@dataclass(frozen=True)
class Flag:
    """A flag of one protocol: its rule, its default (``None``: chosen at run time), what
    leaving it out means, its help, and how a command-line word becomes its value."""

    spec: Spec
    default: Any
    unset_means: str
    help: str
    parse: Callable[[str], Any] | None = None  # default: spec.parse (a list flag: each item's)

    def checked(self, name: str, value: Any) -> Any:
        """``value`` of the flag ``--name``, a command-line word (a sweep's [train_args]) parsed
        first; a UsageError when it breaks the rule."""
        if isinstance(value, str) and self.parse is not None:
            try:
                value = self.parse(value)
            except (ValueError, argparse.ArgumentTypeError) as error:
                raise UsageError(f"--{name} {error}") from None
        message = self.spec.message(f"--{name}", list(value) if isinstance(value, tuple) else value)
        if message:
            raise UsageError(message)
        return value


class Protocol:
    """A training protocol.  Subclasses set ``name``, ``label`` (for messages: "WILDS datasets")
    and ``flags``, and implement the methods below."""

    name: str
    label: str
    flags: dict[str, Flag]
    # True where a training domain can miss from a step's batch (WILDS's groups): DomainBed's
    # algorithms need a non-empty minibatch for every training domain.
    domains_may_be_empty: bool = False

    def complete(self, config, dataset_cls: type, algorithm_cls: type, others: dict[str, str]):
        """``config`` with this protocol's defaults filled in, after checking its flags and
        refusing those of other protocols (``others``: flag -> the label of its protocol); a
        UsageError names the first problem."""
        for name in others:
            if getattr(config, name) is not None:
                raise UsageError(f"--{name} does not apply to {config.dataset}, a {self.label} dataset; "
                                 f"it is for {others[name]} datasets only.")
        changes = {name: flag.default if getattr(config, name) is None else flag.checked(name, getattr(config, name))
                   for name, flag in self.flags.items()}
        config = config.replace(**changes)
        self.check(config, dataset_cls, algorithm_cls)
        return config

    def check(self, config, dataset_cls: type, algorithm_cls: type) -> None:
        """Checks of this protocol's flags that need the dataset or the algorithm."""

    def recorded_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """``args`` (a config's ``as_args()``) as this protocol's runs record them."""
        return args

    def test_env_sets(self, dataset_cls: type, single_test_envs: bool) -> list[list[int] | None]:
        """The test environments of a sweep's jobs on ``dataset_cls``."""
        raise NotImplementedError

    def sweep_args(self, holdout_fraction: float) -> dict[str, Any]:
        """This protocol's flags that a sweep sets for every job."""
        return {}

    def sweep_variants(self, dataset_cls: type, spec) -> list[dict[str, Any]]:
        """This protocol's flags that a sweep (``spec``) varies between a dataset's jobs, one
        dict per setting; ``[{}]`` where none vary."""
        return [{}]

    def open(self, run) -> "ProtocolData":
        """The protocol's data for ``run`` (a ``ResolvedRun``), loaded and checked: it draws the
        batches and evaluates (imports torch)."""
        raise NotImplementedError


class ProtocolData(typing.Protocol):
    """What ``Protocol.open`` gives the training loop."""

    input_shape: tuple[int, ...]
    num_classes: int
    num_domains: int               # the algorithm's training domains (WILDS: its groups)
    n_steps: int                   # when the run does not set --steps
    checkpoint_freq: int           # when the run does not set --checkpoint_freq
    steps_per_epoch: float
    log_names: tuple[str, ...]     # logs beside results.jsonl, cut back to a checkpoint on resume
    record_constants: dict[str, Any]  # keys every record carries (WILDS: its validation metric)

    def prepare(self, algorithm) -> None:
        """Tell the algorithm what it may know of the training data (sizes, labels)."""

    def stream(self, algorithm, start_step: int) -> Iterator[list[tuple]]:
        """Each step's ``(x, y, ids)`` minibatches from ``start_step`` on, including the steps
        where the algorithm chooses its own examples (``batches.SampledBatches``)."""

    def is_checkpoint(self, step: int, freq: int) -> bool: ...

    def evaluate(self, algorithm, step: int, device: str, epoch: float) -> dict[str, float]: ...

    def describe_record(self, record: dict[str, Any]) -> str:
        """A record as ``out.txt`` shows it."""
