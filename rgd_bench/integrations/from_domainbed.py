"""DomainBed's own algorithms (IRM, CORAL, VREx, Fish, ...) inside rgd_bench: run by its engine and sweep.

The direction is DomainBed -> rgd_bench (``into_domainbed`` is the other one).  This module is
a plugin like any third-party one: pyproject.toml declares it in the entry-point group
``rgd_bench.algorithms``, so ``ALGORITHMS`` imports it when it first loads, after the builtin
algorithms; nothing in rgd_bench's core imports it.  On import, when a DomainBed checkout is
importable, ``register()`` adds (``ALGORITHMS.add``) an adapter under DomainBed's name for each
algorithm of ``domainbed.algorithms.ALGORITHMS`` that rgd_bench does not have itself.  The
adapter builds the algorithm with DomainBed's own class and networks, so that an update is
DomainBed's bit for bit; it is an attribute of this module (``from_domainbed.IRM``, through the
module's ``__getattr__``), so it pickles by reference.  Without DomainBed nothing happens; a
DomainBed that is importable but fails to load is reported by one warning.

Hyperparameters: the dataset's space, as for rgd_bench's algorithms, plus DomainBed's keys for
the algorithm (``hparams_registry._hparams``) with DomainBed's defaults and DomainBed's own
random draws for the same seed: the algorithm's own keys (and the shared ones it sets
differently, as ARM's batch size) and those that DomainBed's networks read and the dataset
does not set.

Refused with a one-line reason: an algorithm whose update reads the unlabeled minibatches of
DomainBed's domain_adaptation task (none does today: DANN and CDANN align the training domains),
TRM (its state sits in plain lists), RDM without CUDA, Fishr without backpack; ARM on inputs
that are not images; and every one of them on WILDS's protocol, where a group can be missing
from a batch.
"""
from __future__ import annotations

import dis
import importlib.util
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from rgd_bench.algorithms.base import Algorithm
from rgd_bench.engine.protocols import protocol_of
from rgd_bench.errors import UsageError
from rgd_bench.hparams import HParam, shared_space
from rgd_bench.registry import ALGORITHMS, PluginLoadWarning

ALWAYS_REFUSED = {
    "TRM": "it keeps its per-domain classifiers and their optimizers in plain lists, out of reach "
           "of state_dict, .to(device) and checkpoints, and calls .cuda() itself",
}
CUDA_ONLY = ("RDM",)  # allocates its losses with .cuda() in update
IMAGES_ONLY = ("ARM",)  # its context network is convolutional
# DomainBed's hparams_registry treats these as small images; a small dataset it does not know
# stands in as Debug28, so that it gets DomainBed's small-image values (lr_d, ...).
DOMAINBED_SMALL_IMAGES = ("Debug28", "RotatedMNIST", "ColoredMNIST")
# Read by DomainBed's datasets, not by its algorithms: the dataset's space decides these.
DATASET_KEYS = ("data_augmentation",)


# DomainBed's name -> its adapter, made by register(); read by the module's __getattr__.
_ADAPTERS: dict[str, type] = {}


def __getattr__(name: str) -> type:
    """The adapter of DomainBed's algorithm ``name``: how pickle finds an adapter by reference."""
    try:
        return _ADAPTERS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def register() -> None:
    """Add DomainBed's algorithms to ``ALGORITHMS`` (nothing when DomainBed is absent).
    Run when this module is imported (by ``ALGORITHMS``, through the entry point); idempotent."""
    if importlib.util.find_spec("domainbed") is None:
        return
    try:
        from domainbed import algorithms, hparams_registry  # noqa: F401  (hparams_registry: later)
    except Exception as error:  # importable but broken: say so once, run without it
        warnings.warn(f"DomainBed is importable but its algorithms could not be loaded "
                      f"({type(error).__name__}: {error}); rgd_bench runs without them.",
                      PluginLoadWarning, stacklevel=2)
        return
    for name in algorithms.ALGORITHMS:
        cls = getattr(algorithms, name, None)
        # Skip rgd_bench's own (ERM, GroupDRO) and those registered into DomainBed (RGD, ...).
        if cls is None or name in ALGORITHMS or cls.__module__.startswith("rgd_bench"):
            continue
        why = _refusal(name, cls, algorithms)
        if why:
            ALGORITHMS.explain(name, f"DomainBed's {name} cannot run in rgd_bench: {why}.")
        else:
            if name not in _ADAPTERS:
                _ADAPTERS[name] = type(name, (DomainBedAlgorithm,), {
                    "DOMAINBED_CLASS": cls, "__module__": __name__, "__doc__": f"DomainBed's {name}, adapted."})
            ALGORITHMS.add(name, _ADAPTERS[name])


def _refusal(name: str, cls: type, algorithms) -> str | None:
    """Why DomainBed's ``name`` cannot run in rgd_bench's engine on this machine, if it cannot."""
    if _reads_unlabeled(cls.update):
        return ("its update reads the unlabeled test-domain minibatches of DomainBed's "
                "domain_adaptation task, which rgd_bench's engine does not pass")
    if name in ALWAYS_REFUSED:
        return ALWAYS_REFUSED[name]
    if name in CUDA_ONLY and not torch.cuda.is_available():
        return "it calls .cuda() itself and this machine has no CUDA device"
    if name == "Fishr" and getattr(algorithms, "backpack", None) is None:
        return "it needs the backpack-for-pytorch package, which is not installed"
    return None


def _reads_unlabeled(update: Callable) -> bool:
    """Whether ``update``'s body uses its ``unlabeled`` argument (every update takes it)."""
    for instruction in dis.get_instructions(update):
        if instruction.opname.startswith("LOAD_FAST"):
            names = instruction.argval if isinstance(instruction.argval, tuple) else (instruction.argval,)
            if "unlabeled" in names:
                return True
    return False


# ---------------------------------------------------------------------------
# Hyperparameters
# ---------------------------------------------------------------------------


def _drawn_by_domainbed(random_state) -> Any:
    raise TypeError("DomainBed draws this hyperparameter from the seed: use HParam.draw(seed, name)")


@dataclass(frozen=True)
class DomainBedHParam(HParam):
    """A hyperparameter that DomainBed's ``_hparams`` draws: the value it draws for the seed."""

    algorithm: str = ""
    dataset: str = ""
    # DomainBed gives a few float hyperparameters an int default (ANDMask's tau = 1).
    float_kind: bool = False

    @property
    def kind(self) -> type:
        return float if self.float_kind else type(self.default)

    def draw(self, seed: int, name: str) -> Any:
        from domainbed import hparams_registry

        return hparams_registry._hparams(self.algorithm, self.dataset, seed)[name][1]


def domainbed_dataset_name(dataset_cls: type | None) -> str:
    """The dataset name DomainBed's ``_hparams`` is given for ``dataset_cls``."""
    name = getattr(dataset_cls, "__name__", "")
    small = getattr(dataset_cls, "HPARAM_PROFILE", "small") == "small"
    return "Debug28" if small and name not in DOMAINBED_SMALL_IMAGES else name


def domainbed_space(algorithm: str, dataset_cls: type | None) -> dict[str, HParam]:
    """DomainBed's hyperparameters of ``algorithm`` that the dataset's space does not give."""
    from domainbed import hparams_registry

    dataset = domainbed_dataset_name(dataset_cls)
    ours = shared_space(getattr(dataset_cls, "HPARAM_PROFILE", "small"))
    ours.update(dataset_cls.hparam_space() if dataset_cls is not None else {})
    theirs = hparams_registry._hparams(algorithm, dataset, 0)  # name -> (default, a draw)
    erm = hparams_registry._hparams("ERM", dataset, 0)
    space: dict[str, HParam] = {}
    for name, (default, drawn) in theirs.items():
        own = name not in erm or erm[name][0] != default
        if own or (name not in ours and name not in DATASET_KEYS):
            float_kind = type(default) is int and isinstance(drawn, float)
            space[name] = DomainBedHParam(default, _drawn_by_domainbed, algorithm=algorithm,
                                          dataset=dataset, float_kind=float_kind)
    return space


def _check_dataset(algorithm: str, dataset_cls: type | None) -> None:
    if dataset_cls is None:
        return
    protocol = protocol_of(dataset_cls)
    if protocol.domains_may_be_empty:
        raise UsageError(f"DomainBed's {algorithm} cannot run on {protocol.label} datasets: their protocol can leave "
                         f"a training domain out of a batch (WILDS splits each batch by group), and DomainBed's "
                         f"algorithms need a non-empty minibatch for every training domain.")
    shape = tuple(getattr(dataset_cls, "INPUT_SHAPE", ()))
    if algorithm in IMAGES_ONLY and shape and len(shape) != 3:
        raise UsageError(f"DomainBed's {algorithm} cannot run on {dataset_cls.__name__}: its context network "
                         f"is convolutional and needs images; {dataset_cls.__name__}'s inputs have shape {shape}.")


# ---------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------


class DomainBedAlgorithm(Algorithm):
    """A DomainBed algorithm (``DOMAINBED_CLASS``, set per subclass) behind rgd_bench's interface.

    The DomainBed instance is the submodule ``domainbed``: its parameters and buffers are in
    ``state_dict``, its optimizers in ``optimizers()``, and its other plain attributes (Fish's
    inner optimizer state, ERM++'s counters, Fishr's moving averages) in the training state.
    """

    DOMAINBED_CLASS: type

    def __init__(self, input_shape: Sequence[int], num_classes: int, num_domains: int,
                 hparams: dict[str, Any]):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        if hparams.get("pretrained") is False:
            raise UsageError(f"DomainBed's {type(self).__name__} builds DomainBed's networks, whose ResNets always "
                             f"start from ImageNet weights: the hyperparameter 'pretrained': false cannot apply.")
        # A tuple: DomainBed's Featurizer compares input_shape[1:3] with tuples.
        self.domainbed = self.DOMAINBED_CLASS(self.input_shape, num_classes, num_domains, hparams)

    @classmethod
    def hparam_space(cls, dataset_cls: type | None) -> dict[str, HParam]:
        _check_dataset(cls.__name__, dataset_cls)
        return domainbed_space(cls.__name__, dataset_cls)

    def update(self, minibatches, unlabeled=None) -> dict[str, float]:
        values = self.domainbed.update([tuple(batch) for batch in minibatches], unlabeled)
        return {key: float(value) for key, value in values.items()}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.domainbed.predict(x)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # Looked up each time: IRM, VREx, ... replace their optimizer when the penalty starts.
        return {name: value for name, value in vars(self.domainbed).items()
                if isinstance(value, torch.optim.Optimizer)}

    def training_state(self) -> dict[str, Any]:
        state = super().training_state()
        state["attributes"] = {name: kept for name, value in vars(self.domainbed).items()
                               if name not in _MODULE_MACHINERY and (kept := _kept(value)) is not _SKIP}
        return state

    def load_training_state(self, state: dict[str, Any]) -> None:
        # Unexpected keys are submodules that update() builds afresh at every step (Fish's clone).
        missing, _ = self.load_state_dict(state["model"], strict=False)
        if missing:
            raise KeyError(f"The training state lacks {', '.join(missing)}.")
        for name, optimizer in self.optimizers().items():
            optimizer.load_state_dict(state["optimizers"][name])
        device = next(self.parameters()).device
        for name, saved in state["attributes"].items():
            setattr(self.domainbed, name, _restored(getattr(self.domainbed, name, None), saved, device))


# Plain attributes go into the training state as types that a ``weights_only`` load accepts;
# an object's attributes are kept under OBJECT and put back into the live object.
_MODULE_MACHINERY = frozenset(vars(nn.Module()))
_SKIP = object()
OBJECT, TENSOR = "__object__", "__tensor__"


def _kept(value: Any) -> Any:
    """``value`` as plain data, or _SKIP (modules and optimizers, kept elsewhere; functions)."""
    if isinstance(value, torch.Tensor):  # remember whether it lived on an accelerator
        return {TENSOR: value.detach().clone(), "accelerator": value.device.type != "cpu"}
    if value is None or isinstance(value, str):
        return value
    for kind in (bool, int, float):  # numpy scalars as Python numbers
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, (list, tuple, dict)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        kept = {key: _kept(item) for key, item in items}
        if any(item is _SKIP for item in kept.values()):
            return _SKIP
        return kept if isinstance(value, dict) else list(kept.values())
    if isinstance(value, (nn.Module, torch.optim.Optimizer)) or callable(value) or not hasattr(value, "__dict__"):
        return _SKIP
    return {OBJECT: {name: kept for name, item in vars(value).items() if (kept := _kept(item)) is not _SKIP}}


def _restored(current: Any, saved: Any, device: torch.device) -> Any:
    """``saved`` for the attribute now holding ``current``: objects updated in place, tensors
    where ``current`` is (else back on the model's device if they were on an accelerator)."""
    if isinstance(saved, dict) and OBJECT in saved:
        if current is None or not hasattr(current, "__dict__"):
            return current  # built by update() (EQRM's density estimate), rebuilt at the next step
        for name, item in saved[OBJECT].items():
            setattr(current, name, _restored(getattr(current, name, None), item, device))
        return current
    if isinstance(saved, dict) and TENSOR in saved:
        tensor = saved[TENSOR]
        if isinstance(current, torch.Tensor):
            return tensor.to(current.device)
        return tensor.to(device) if saved["accelerator"] else tensor
    if isinstance(saved, dict):
        current = current if isinstance(current, dict) else {}
        return {key: _restored(current.get(key), item, device) for key, item in saved.items()}
    if isinstance(saved, list):
        restored = [_restored(current[i] if isinstance(current, (list, tuple)) and i < len(current) else None,
                              item, device) for i, item in enumerate(saved)]
        return tuple(restored) if isinstance(current, tuple) else restored
    return saved


register()  # a module entry point registers its classes on import (rgd_bench.registry)
