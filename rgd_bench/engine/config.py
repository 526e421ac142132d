"""A run's configuration: ``RunConfig``, frozen and typed, each field's rule declared once.

The command line (``python -m rgd_bench.train``), a sweep's jobs and Python code all make a
``RunConfig``; ``rgd_bench.run(config)`` checks it and trains.  The flags of one protocol
only (``test_envs``, ``uniform_over_groups``, ...) are fields here too, left ``None``
("the protocol's default"); their rules and defaults are the protocol's
(``rgd_bench.engine.protocols``).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from rgd_bench.errors import UsageError
from rgd_bench.values import NON_NEGATIVE, POSITIVE, Range, Spec

SEED = Spec(int, Range(0, 2**32 - 1))  # numpy's seeds end there
# Fields that change where or how fast a run executes, never its results: they are left out of
# the recorded ``args`` (and so out of a sweep's job identity).
EXECUTION_FIELDS = ("device", "num_workers", "eval_batch_size")


def _rule(spec: Spec | None, unset: str | None = None) -> dict[str, Any]:
    """A field's metadata: its ``spec`` (checked when set) and what leaving it unset means."""
    return {"spec": spec, "unset": unset}


@dataclass(frozen=True)
class RunConfig:
    """One run: what to train, where, and with which seeds.  ``None`` means the default that
    the dataset or its protocol gives (see ``UNSET_MEANS``)."""

    dataset: str = field(default="ColoredMNIST5k", metadata=_rule(Spec(str)))
    algorithm: str = field(default="ERM", metadata=_rule(Spec(str)))
    output_dir: str = field(default="train_output", metadata=_rule(Spec(str)))
    data_dir: str | None = field(default=None, metadata=_rule(
        Spec(str), "none; the embedded and synthetic datasets need none"))
    # JSON text of hyperparameter overrides, recorded as given (DomainBed's --hparams); a
    # mapping is accepted and written as JSON.
    hparams: str | None = field(default=None, metadata=_rule(Spec(str), "none: the defaults, or the draw of --hparams_seed"))
    hparams_seed: int = field(default=0, metadata=_rule(SEED))
    trial_seed: int = field(default=0, metadata=_rule(SEED))
    seed: int = field(default=0, metadata=_rule(SEED))
    steps: int | None = field(default=None, metadata=_rule(
        Spec(int, POSITIVE), "the dataset's N_STEPS; WILDS datasets: N_EPOCHS epochs"))
    checkpoint_freq: int | None = field(default=None, metadata=_rule(
        Spec(int, POSITIVE), "the dataset's CHECKPOINT_FREQ; WILDS datasets: every epoch"))
    # DomainBed's protocol (rgd_bench.engine.protocols.domainbed declares their rules)
    test_envs: tuple[int, ...] | None = field(default=None, metadata=_rule(None))
    holdout_fraction: float | None = field(default=None, metadata=_rule(None))
    # WILDS's protocol (rgd_bench.engine.protocols.wilds)
    groupby_fields: tuple[str, ...] | None = field(default=None, metadata=_rule(None))
    uniform_over_groups: bool | None = field(default=None, metadata=_rule(None))
    # The subpopulation protocol (rgd_bench.engine.protocols.subpopulation)
    train_attr: str | None = field(default=None, metadata=_rule(None))
    skip_model_save: bool = field(default=False, metadata=_rule(Spec(bool)))
    save_model_every_checkpoint: bool = field(default=False, metadata=_rule(Spec(bool)))
    device: str = field(default="auto", metadata=_rule(Spec(str)))
    num_workers: int | None = field(default=None, metadata=_rule(
        Spec(int, NON_NEGATIVE), "the dataset's N_WORKERS: 0 in memory, up to 8 for images on disk"))
    eval_batch_size: int = field(default=128, metadata=_rule(Spec(int, POSITIVE)))
    plugins: tuple[str, ...] | None = field(default=None, metadata=_rule(Spec(list, item=Spec(str)), "none"))

    def __post_init__(self) -> None:
        # Lists (from JSON, TOML or argparse) become tuples, so that a config is hashable.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        if isinstance(self.hparams, Mapping):
            object.__setattr__(self, "hparams", json.dumps(dict(self.hparams)))

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "RunConfig":
        """A config from a dict of flag names (a sweep job's arguments); an unknown name is a
        UsageError listing the known ones."""
        unknown = sorted(set(args) - set(FIELDS))
        if unknown:
            close = difflib.get_close_matches(unknown[0], FIELDS, n=1)
            hint = f"did you mean --{close[0]}? " if close else ""
            raise UsageError(f"--{unknown[0]} is not a flag of the train command; {hint}the flags are "
                             f"{', '.join('--' + name for name in FIELDS)}.")
        return cls(**args)

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def as_args(self) -> dict[str, Any]:
        """Every field, as JSON holds it (tuples as lists): DomainBed's ``vars(args)``."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))}


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(RunConfig)}
# What leaving out a field whose default is None means; --help says the same.
UNSET_MEANS = {name: f.metadata["unset"] for name, f in FIELDS.items() if f.metadata["unset"]}


def check_fields(config: RunConfig) -> None:
    """Each set field against its spec (the protocols check theirs); a UsageError names the
    first value that breaks its rule."""
    values = config.as_args()
    for name, f in FIELDS.items():
        value = values[name]
        spec = f.metadata["spec"]
        if spec is not None and value is not None:
            message = spec.message(f"--{name}", value)
            if message:
                raise UsageError(message)
    problem = device_problem(config.device)
    if problem:
        raise UsageError(f"--device {problem}")


def device_problem(text: str) -> str | None:
    """Why ``text`` is not a device's name (whether CUDA is there is asked at run time)."""
    if text in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", text):
        return None
    return f"must be auto, cpu, cuda or cuda:N. Got {text!r} instead."


def _protocol_flags():
    from rgd_bench.engine.protocols import PROTOCOL_FLAGS  # they import nothing of this module

    return PROTOCOL_FLAGS


# Each flag's rule, the protocols' included: the sweep checks its keys of the same names against these.
FLAG_SPECS: dict[str, Spec] = {
    **{name: f.metadata["spec"] for name, f in FIELDS.items() if f.metadata["spec"] is not None},
    **{name: flag.spec for name, flag in _protocol_flags().items()}}
UNSET_MEANS.update({name: flag.unset_means for name, flag in _protocol_flags().items()})
