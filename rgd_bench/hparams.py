"""Hyperparameter spaces as data, drawn exactly as DomainBed draws them.

A space maps a name to ``HParam(default, sampler)``.  ``hparams_seed == 0`` gives the
defaults; otherwise each value comes from its own ``numpy.random.RandomState`` seeded by
``seed_hash(seed_hash(hparams_seed, trial_seed), name)``, so adding a hyperparameter
never changes the draws of the others (DomainBed's ``_hparam``).

The space of a run is the union, in this order (later entries override earlier ones):
the shared space of the dataset's size profile, the dataset's own space, the
algorithm's space, then the names a dataset lists in ``HPARAMS_OVER_ALGORITHM``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from rgd_bench.values import NON_NEGATIVE, POSITIVE, Range, Spec

Sampler = Callable[[np.random.RandomState], Any]


def seed_hash(*args: Any) -> int:
    """Derive an integer seed from ``args`` (DomainBed's ``misc.seed_hash``)."""
    args_str = str(args)
    return int(hashlib.md5(args_str.encode("utf-8")).hexdigest(), 16) % (2**31)


@dataclass(frozen=True)
class HParam:
    """One hyperparameter: its default, its random sampler and what values are allowed.

    ``kind`` is inferred from the default (bool, int, float or str); ``within`` is the range
    a number must lie in (``values.POSITIVE``, ``Range(0, 1, high_open=True)``, ...) and
    ``choices`` the allowed values.  Overrides are checked against them before a run starts.
    """

    default: Any
    sampler: Sampler
    within: Range | None = None
    choices: tuple = field(default=())
    doc: str = ""

    @property
    def kind(self) -> type:
        return type(self.default)

    @property
    def spec(self) -> Spec:
        return Spec(self.kind, self.within, self.choices)

    def problem(self, name: str, owner: str, value: Any) -> str | None:
        """Describe why ``value`` is not allowed, or return None if it is."""
        return self.spec.message(f"The '{name}' hyperparameter of {owner}", value)

    def draw(self, seed: int, name: str) -> Any:
        """This hyperparameter's value in the random draw ``seed`` (DomainBed's ``_hparam``).
        Overridden where another library draws the value itself from the same seed."""
        return self.sampler(np.random.RandomState(seed_hash(seed, name)))


BATCH_SIZE = Range(1, 2**16)  # beyond any dataset here; a typo such as 10**9 would only exhaust memory
MOMENTUM = DROPOUT = Range(0, 1, high_open=True)
# The networks' own hyperparameters (mlp_*, featurizer, resnet*, ...) are declared beside
# them, in rgd_bench.networks.hparams.


def _log_uniform(low_exp: float, high_exp: float) -> Sampler:
    return lambda r: 10 ** r.uniform(low_exp, high_exp)


def shared_space(profile: str) -> dict[str, HParam]:
    """lr, weight_decay, batch_size and friends, with DomainBed's defaults and ranges.

    ``profile`` is ``"small"`` for DomainBed's SMALL_IMAGES datasets (and our small
    embedded ones), ``"large"`` for the 224x224 image datasets, ``"domainnet"`` for
    DomainNet's smaller batch range.
    """
    small = profile == "small"
    space = {
        "class_balanced": HParam(False, lambda r: False),
        "nonlinear_classifier": HParam(False, lambda r: bool(r.choice([False, False]))),
        "lr": HParam(1e-3, _log_uniform(-4.5, -2.5), POSITIVE) if small
        else HParam(5e-5, _log_uniform(-5, -3.5), POSITIVE),
        "weight_decay": HParam(0.0, lambda r: 0.0, NON_NEGATIVE) if small
        else HParam(0.0, _log_uniform(-6, -2), NON_NEGATIVE),
    }
    if small:
        space["batch_size"] = HParam(64, lambda r: int(2 ** r.uniform(3, 9)), BATCH_SIZE)
    elif profile == "domainnet":
        space["batch_size"] = HParam(32, lambda r: int(2 ** r.uniform(3, 5)), BATCH_SIZE)
    else:
        space["batch_size"] = HParam(32, lambda r: int(2 ** r.uniform(3, 5.5)), BATCH_SIZE)
    return space


def build_space(algorithm_cls: type, dataset_cls: type) -> dict[str, HParam]:
    """The full space of one (algorithm, dataset) pair."""
    space = shared_space(dataset_cls.HPARAM_PROFILE)
    space.update(dataset_cls.hparam_space())
    space.update(algorithm_cls.hparam_space(dataset_cls))
    dataset_space = dataset_cls.hparam_space()
    for name in getattr(dataset_cls, "HPARAMS_OVER_ALGORITHM", ()):  # e.g. WILDS's fixed optimizers
        space[name] = dataset_space[name]
    return space


def default_hparams(space: Mapping[str, HParam]) -> dict[str, Any]:
    return {name: hp.default for name, hp in space.items()}


def random_hparams(space: Mapping[str, HParam], seed: int) -> dict[str, Any]:
    """One random draw; each value seeded by ``seed_hash(seed, name)``."""
    drawn = {}
    for name, hp in space.items():
        value = hp.draw(seed, name)
        drawn[name] = value.item() if isinstance(value, np.generic) else value
    return drawn


def parse_overrides(text: str | None) -> dict[str, Any]:
    """Parse ``--hparams`` JSON; raise ValueError naming the problem."""
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--hparams must be a JSON object; could not parse {text!r}: {error}.") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"--hparams must be a JSON object like '{{\"lr\": 0.001}}'. Got {text!r} instead.")
    return parsed


def check_overrides(space: Mapping[str, HParam], overrides: Mapping[str, Any], owner: str) -> None:
    """Raise ValueError listing every unknown key and every ill-typed value."""
    problems = []
    for name, value in overrides.items():
        if name not in space:
            problems.append(
                f"Unknown hyperparameter '{name}' for {owner}; valid ones: {', '.join(sorted(space))}."
            )
        else:
            problem = space[name].problem(name, owner, value)
            if problem:
                problems.append(problem)
    if problems:
        raise ValueError(" ".join(problems))


def resolve_hparams(
    algorithm_cls: type,
    dataset_cls: type,
    hparams_seed: int,
    trial_seed: int,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The hyperparameters of one run, as DomainBed's train.py computes them."""
    space = build_space(algorithm_cls, dataset_cls)
    owner = f"{algorithm_cls.__name__} on {dataset_cls.__name__}"
    overrides = dict(overrides or {})
    check_overrides(space, overrides, owner)
    if hparams_seed == 0:
        hparams = default_hparams(space)
    else:
        hparams = random_hparams(space, seed_hash(hparams_seed, trial_seed))
    for name, value in overrides.items():
        # JSON writes 1 for 1.0: keep the declared kind so records stay uniform.
        hparams[name] = float(value) if space[name].kind is float else value
    return hparams
