"""rgd_bench's algorithms inside a real DomainBed (a checkout on ``PYTHONPATH``).

The direction is rgd_bench -> DomainBed (``from_domainbed`` is the other one).

``register()`` adds them to ``domainbed.algorithms`` (module attribute and ``ALGORITHMS``)
and their hyperparameters to ``domainbed.hparams_registry``: DomainBed's own keys (lr,
batch_size, ...) keep DomainBed's defaults and random draws; each of ours is drawn as
DomainBed's ``_hparam`` draws, from ``RandomState(seed_hash(random_seed, name))``.  They
build DomainBed's own networks (``into_domainbed_networks``), so they and DomainBed's ERM train
the same backbone on every dataset.

The command line runs DomainBed's own scripts with them registered:

    python -m rgd_bench.integrations.into_domainbed train --algorithm RGD --dataset Debug28 ...
    python -m rgd_bench.integrations.into_domainbed sweep launch --algorithms ERM RGD ALSO ...
    python -m rgd_bench.integrations.into_domainbed collect_results --input_dir ...

``sweep`` makes DomainBed's command launchers run this module's ``train`` instead of
``domainbed.scripts.train``, so every job sees the registration.

SGD_HWS chooses its training examples from their loss history: for its runs, ``train``
replaces DomainBed's training loaders by the hardness-weighted ones of ``into_domainbed_hws``.
"""
from __future__ import annotations

import runpy
import shlex
import sys
from typing import Sequence

import numpy as np

from rgd_bench.hparams import seed_hash

ALGORITHM_NAMES = ("RGD", "SGD_HWS", "ALSO")
SCRIPTS = ("train", "sweep", "collect_results")
MODULE = "rgd_bench.integrations.into_domainbed"  # __name__ is "__main__" under python -m
PROG = f"python -m {MODULE}"


def import_domainbed():
    try:
        import domainbed.algorithms
        import domainbed.hparams_registry
    except ImportError as error:
        raise ImportError("DomainBed is not importable: clone facebookresearch/DomainBed and put it on "
                          "PYTHONPATH (it is not on PyPI)") from error
    return domainbed.algorithms, domainbed.hparams_registry


def register(names: Sequence[str] = ALGORITHM_NAMES) -> None:
    """Make ``names`` known to DomainBed's algorithms and hparams registries (idempotent)."""
    from rgd_bench.registry import ALGORITHMS

    from rgd_bench.integrations.into_domainbed_hws import DomainBedSGD_HWS
    from rgd_bench.integrations.into_domainbed_networks import domainbed_flavoured

    algorithms, hparams_registry = import_domainbed()
    # All build DomainBed's networks; SGD_HWS also takes DomainBed's (x, y) minibatches and
    # gets the example ids from its loaders.
    classes = {name: DomainBedSGD_HWS if name == "SGD_HWS" else domainbed_flavoured(ALGORITHMS.get(name))
               for name in names}
    for name, cls in classes.items():
        setattr(algorithms, name, cls)
        if name not in algorithms.ALGORITHMS:
            algorithms.ALGORITHMS.append(name)
    original = getattr(hparams_registry._hparams, "rgd_bench_original", hparams_registry._hparams)

    def _hparams(algorithm, dataset, random_seed):
        if algorithm not in classes:
            return original(algorithm, dataset, random_seed)
        # DomainBed's shared keys, as for its ERM: all that its networks read on this dataset.
        hparams = original("ERM", dataset, random_seed)
        for name, hp in classes[algorithm].hparam_space(None).items():
            if name not in hparams:
                drawn = hp.sampler(np.random.RandomState(seed_hash(random_seed, name)))
                hparams[name] = (hp.default, drawn.item() if isinstance(drawn, np.generic) else drawn)
        return hparams

    _hparams.rgd_bench_original = original
    hparams_registry._hparams = _hparams


DOMAINBED_TRAIN = "python -m domainbed.scripts.train"


def _train_via_this_module() -> None:
    """DomainBed's sweep jobs run ``python -m domainbed.scripts.train``, where our algorithms
    are unknown: every command launcher gets the commands rewritten to run this module's
    ``train`` (the launchers live in an imported module; the sweep script runs fresh)."""
    from domainbed import command_launchers

    ours = f"{shlex.quote(sys.executable)} -m {MODULE} train"
    for name, launcher in list(command_launchers.REGISTRY.items()):
        launcher = getattr(launcher, "rgd_bench_original", launcher)

        def launch(commands, launcher=launcher):
            return launcher([c.replace(DOMAINBED_TRAIN, ours, 1) for c in commands])

        launch.rgd_bench_original = launcher
        command_launchers.REGISTRY[name] = launch


def _flag(argv: list[str], name: str) -> str | None:
    """The value of ``name`` in ``argv`` (``--name value`` or ``--name=value``)."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SCRIPTS:
        print(f"{PROG}: error: the first argument must be one of {', '.join(SCRIPTS)}; then DomainBed's own "
              "arguments for that script", file=sys.stderr)
        sys.exit(2)
    try:
        register()
    except ImportError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        sys.exit(2)
    if argv[0] == "sweep":
        _train_via_this_module()
    if argv[0] == "train" and _flag(argv, "--algorithm") == "SGD_HWS":
        if _flag(argv, "--task") == "domain_adaptation":
            print(f"{PROG}: error: --task domain_adaptation is not supported with SGD_HWS; use "
                  "domain_generalization", file=sys.stderr)
            sys.exit(2)
        from domainbed.lib import fast_data_loader

        from rgd_bench.integrations.into_domainbed_hws import install
        install(fast_data_loader)
    sys.argv = [f"domainbed.scripts.{argv[0]}", *argv[1:]]
    runpy.run_module(f"domainbed.scripts.{argv[0]}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
