"""rgd_bench's algorithms inside WILDS's own training script, ``examples/run_expt.py``.

The direction is rgd_bench -> WILDS's examples.  WILDS's datasets inside rgd_bench are no
integration: they are datasets (``rgd_bench.datasets.wilds_benchmarks``, with
``wilds_support`` and ``wilds_synthetic`` beside it).

WILDS's training code is not pip-installed: it is the ``examples/`` folder of a WILDS
checkout, whose modules import each other as top-level ``configs``, ``algorithms``,
``utils``...  With that folder on ``sys.path``, ``register()`` makes RGD, SGD_HWS and
ALSO known to it:

- ``configs.supported.algorithms`` (run_expt's ``--algorithm`` choices) lists them;
- ``configs.algorithm.algorithm_defaults`` holds their defaults, which run_expt's
  ``populate_defaults`` copies into the config where the command line left a key unset;
- run_expt's parser gets one flag per hyperparameter (``--rgd_clip``, ``--hws_beta``,
  ``--pi_lr``, ...) and the train loader ``hardness_weighted``;
- ``initialize_algorithm``, in ``algorithms.initializer`` and in every module that imported
  it (run_expt), builds them as WILDS ``SingleModelAlgorithm`` subclasses: WILDS's model,
  loss, optimizer, scheduler, logs and checkpoints.  Other names go to WILDS's own.

``python -m rgd_bench.integrations.wilds_examples --examples_dir PATH [run_expt args]``
registers them, adds rgd_bench's in-memory ``synthetic_waterbirds`` to WILDS's datasets,
and runs run_expt's ``main``.

On WILDS's side:

- RGD, faithful: the step minimises ``mean(w_i * l_i)``, ``w_i = rgd_weights(l_i)``
  (rgd.py), over WILDS's per-example loss (``loss.compute_element_wise``).
- SGD_HWS, faithful: WILDS's loop trains on whatever the train loader yields, so SGD_HWS
  brings its loader.  ``hardness_weighted`` (its default ``train_loader``) draws each batch
  as rgd_bench's engine does (``_hardness.HardnessHistory``, owned by the algorithm: the
  warm-start epoch over a permutation, then i.i.d. from ``softmax(beta * L)``, importance
  weights clipped to [0.1, 10]), ``ceil(n / batch_size)`` batches an epoch, and yields
  ``(x, y, metadata, ids)``: WILDS batches carry no example ids, so the loader adds the
  positions it drew and the algorithm updates ``L`` for exactly the examples it trained on.
  A batch is drawn when the DataLoader asks for it: with ``num_workers = k`` that is up to
  ``k * prefetch_factor`` steps early, so SGD_HWS defaults to ``num_workers = 0`` (each draw
  sees every previous step), unless the dataset's defaults or ``--loader_kwargs`` set it.
  ``L``, the sampler's centre and the warm-start progress are buffers, so WILDS's
  ``--resume`` restores them.
- ALSO, simplified: ``pi`` weighs the groups of WILDS's train grouper (``--groupby_fields``)
  that occur in the training split (rgd_bench's ``also_groups``: domain or class or
  domain x class are those groupings; per-example ``pi`` is not offered).  The step is rgd_bench's
  (``also.also_step``: ``pi_step``, ``CoupledAdam``, optimistic or descent-ascent) with ``lr`` and
  ``weight_decay`` from WILDS's config; ``--optimizer`` and ``--optimizer_kwargs`` are
  ignored (with a warning) because ALSO's extrapolation lives in its optimizer;
  ``gradient_accumulation_steps`` must be 1; ``max_grad_norm`` clips the gradient before it
  is remembered and applied.  WILDS's checkpoints hold the algorithm's ``state_dict`` only:
  ``pi`` survives ``--resume``, Adam's moments and the previous gradient do not (as for
  every WILDS algorithm).

None of the three trains on unlabeled data (``--unlabeled_split``).  WILDS's
``optimizer.py`` imports ``transformers.AdamW``, removed in transformers 4.50: with a newer
transformers, ``transformers.AdamW`` is made a stub that fails only if ``--optimizer AdamW``
is used, so that run_expt imports.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import math
import os
import sys
import types
import warnings
from typing import Callable, NoReturn, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from rgd_bench.algorithms._hardness import HardnessHistory
from rgd_bench.algorithms.also import CoupledAdam, also_step, pi_step
from rgd_bench.algorithms.hws import HWS_HPARAMS, history_options
from rgd_bench.algorithms.rgd import rgd_weights
from rgd_bench.errors import UsageError
from rgd_bench.datasets.wilds_support import import_wilds, pandas_object_strings

PROG = "python -m rgd_bench.integrations.wilds_examples"
ALGORITHM_NAMES = ("RGD", "SGD_HWS", "ALSO")
HWS_LOADER = "hardness_weighted"
# The hyperparameters of each algorithm that become run_expt flags; defaults and checks
# come from rgd_bench's own spaces.  lr and weight_decay stay WILDS's.
HPARAM_NAMES = {
    "RGD": ("rgd_clip", "rgd_temperature_rule", "rgd_temperature"),
    "SGD_HWS": tuple(HWS_HPARAMS),
    "ALSO": ("pi_lr", "pi_decay", "pi_temperature", "also_mode", "also_alpha"),
}
LOADERS = {"RGD": "standard", "SGD_HWS": HWS_LOADER, "ALSO": "standard"}
SYNTHETIC_DEFAULTS = {  # a small WILDS config for synthetic_waterbirds (10 features, 4 groups)
    "split_scheme": "official", "model": "logistic_regression", "model_kwargs": {"in_features": 10},
    "transform": None, "loss_function": "cross_entropy", "groupby_fields": ["background", "y"],
    "val_metric": "acc_wg", "val_metric_decreasing": False, "algo_log_metric": "accuracy",
    "optimizer": "SGD", "optimizer_kwargs": {"momentum": 0.9}, "scheduler": None,
    "batch_size": 64, "lr": 0.01, "weight_decay": 0.0, "n_epochs": 10,
    "process_outputs_function": "multiclass_logits_to_pred",
    "loader_kwargs": {"num_workers": 0, "pin_memory": False},
}


def hparam_spaces() -> dict[str, dict]:
    from rgd_bench.registry import ALGORITHMS

    return {name: {k: ALGORITHMS.get(name).hparam_space(None)[k] for k in keys}
            for name, keys in HPARAM_NAMES.items()}


# --- the hardness-weighted train loader ------------------------------------------------

class HardnessWeightedBatchSampler(Sampler):
    """Batches of positions drawn i.i.d. from the bound algorithm's ``softmax(beta * L)``,
    each drawn when the DataLoader asks for it."""

    def __init__(self, n_examples: int, batch_size: int):
        super().__init__()
        self.n_examples, self.batch_size = int(n_examples), int(batch_size)
        self.algorithm = None

    def bind(self, algorithm) -> None:
        self.algorithm = algorithm

    def __len__(self) -> int:
        return math.ceil(self.n_examples / self.batch_size)

    def __iter__(self):
        if self.algorithm is None:
            raise RuntimeError("the hardness_weighted loader was read before SGD_HWS was built")
        seed = int(torch.randint(2 ** 31 - 1, (1,)))  # from run_expt's seeded global RNG
        generator = torch.Generator().manual_seed(seed)
        for start in range(0, self.n_examples, self.batch_size):
            count = min(self.batch_size, self.n_examples - start)  # an epoch is n draws
            yield self.algorithm.sample_examples(count, generator).tolist()


class _WithIds(Dataset):
    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return (*self.dataset[i], i)


class _CollateWithIds:
    """The dataset's own collate on (x, y, metadata); the positions stacked beside."""

    def __init__(self, collate):
        self.collate = collate or default_collate

    def __call__(self, items):
        return (*self.collate([item[:-1] for item in items]), torch.tensor([item[-1] for item in items]))


def _get_train_loader(original: Callable) -> Callable:
    def get_train_loader(loader, dataset, batch_size, uniform_over_groups=None, grouper=None,  # WILDS's signature
                         distinct_groups=True, n_groups_per_batch=None, **loader_kwargs):
        if loader != HWS_LOADER:
            return original(loader, dataset, batch_size, uniform_over_groups=uniform_over_groups,
                            grouper=grouper, distinct_groups=distinct_groups,
                            n_groups_per_batch=n_groups_per_batch, **loader_kwargs)
        if uniform_over_groups:
            raise UsageError("The hardness_weighted loader draws from softmax(beta * L); it cannot also be "
                             "uniform over groups. Drop --uniform_over_groups.")
        return DataLoader(_WithIds(dataset), batch_sampler=HardnessWeightedBatchSampler(len(dataset), batch_size),
                          collate_fn=_CollateWithIds(dataset.collate), **loader_kwargs)
    return get_train_loader


# --- the algorithms, as mixins over WILDS's SingleModelAlgorithm ------------------------

def _initialize_model(config, d_out):
    from models.initializer import initialize_model  # WILDS's examples/models

    return initialize_model(config, d_out)


def _elementwise(loss, results) -> torch.Tensor:
    return loss.compute_element_wise(results["y_pred"], results["y_true"], return_dict=False)


class _RGD:
    def __init__(self, config, d_out, grouper, loss, metric, n_train_steps):
        super().__init__(config=config, model=_initialize_model(config, d_out), grouper=grouper, loss=loss,
                         metric=metric, n_train_steps=n_train_steps)
        self.rgd_clip = config.rgd_clip
        self.rgd_temperature = (config.rgd_clip + 1.0 if config.rgd_temperature_rule == "clip_plus_one"
                                else config.rgd_temperature)

    def objective(self, results):
        losses = _elementwise(self.loss, results)
        return (rgd_weights(losses, self.rgd_clip, self.rgd_temperature) * losses).mean()


class _SGD_HWS(HardnessHistory):
    def __init__(self, config, d_out, grouper, loss, metric, n_train_steps, train_loader):
        batch_sampler = getattr(train_loader, "batch_sampler", None)
        if not isinstance(batch_sampler, HardnessWeightedBatchSampler):
            raise UsageError(f"SGD_HWS chooses its training examples: its train loader must be '{HWS_LOADER}' "
                             f"(its default). Got --train_loader {config.train_loader} instead.")
        super().__init__(config=config, model=_initialize_model(config, d_out), grouper=grouper, loss=loss,
                         metric=metric, n_train_steps=n_train_steps)
        self.init_history(**history_options(vars(config)))
        self.bind_history(batch_sampler.n_examples)
        batch_sampler.bind(self)

    def sample_examples(self, count: int, generator: torch.Generator) -> torch.Tensor:
        return self.draw(count, generator)

    def process_batch(self, batch, unlabeled_batch=None):
        ids = batch[3] if len(batch) == 4 else None  # the hardness_weighted loader's positions
        results = super().process_batch(tuple(batch[:3]), unlabeled_batch)
        if ids is not None:
            results["example_ids"] = ids
        return results

    def _update(self, results, should_step=False):
        if "example_ids" not in results:
            raise RuntimeError(f"SGD_HWS trains on the '{HWS_LOADER}' loader's (x, y, metadata, ids) batches")
        results["hws_weights"] = self.record(results["example_ids"], _elementwise(self.loss, results))
        super()._update(results, should_step=should_step)

    def objective(self, results):
        losses = _elementwise(self.loss, results)
        weights = results.get("hws_weights")  # none when WILDS evaluates
        return losses.mean() if weights is None else (weights * losses).mean()


class _ALSO:
    def __init__(self, config, d_out, grouper, loss, metric, n_train_steps, is_group_in_train):
        if config.gradient_accumulation_steps != 1:
            raise UsageError("ALSO steps theta and pi together: --gradient_accumulation_steps must be 1. "
                             f"Got {config.gradient_accumulation_steps} instead.")
        if config.optimizer != "Adam" or config.optimizer_kwargs:
            warnings.warn(f"ALSO uses its own Adam (coupled L2) with lr={config.lr} and weight_decay="
                          f"{config.weight_decay}; --optimizer {config.optimizer} and --optimizer_kwargs "
                          f"{config.optimizer_kwargs} are ignored", stacklevel=2)
        model = _initialize_model(config, d_out)
        # Set before SingleModelAlgorithm.__init__, which then keeps it (as WILDS's DANN does).
        self.optimizer = CoupledAdam([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                     weight_decay=config.weight_decay)
        super().__init__(config=config, model=model, grouper=grouper, loss=loss, metric=metric,
                         n_train_steps=n_train_steps)
        self.logged_fields.append("group_pi")
        present = torch.as_tensor(is_group_in_train, dtype=torch.bool).cpu()
        slots = torch.full((grouper.n_groups,), -1, dtype=torch.long)
        slots[present] = torch.arange(int(present.sum()))
        self.register_buffer("group_slot", slots.to(self.device))
        c = int(present.sum())
        self.register_buffer("pi", torch.full((c,), 1.0 / c, device=self.device))
        self.register_buffer("previous_pi_gain", torch.zeros(c, device=self.device))
        self.register_buffer("has_previous_pi_gain", torch.zeros((), dtype=torch.bool, device=self.device))
        self.pi_lr, self.pi_decay, self.pi_temperature = config.pi_lr, config.pi_decay, config.pi_temperature
        self.also_mode, self.also_alpha = config.also_mode, config.also_alpha

    def _over_all_groups(self, pi: torch.Tensor) -> torch.Tensor:
        """pi indexed by WILDS group; 0 for groups absent from the training split."""
        present = self.group_slot >= 0
        return torch.zeros(len(self.group_slot), device=pi.device).masked_scatter(present, pi)

    def _pi_step(self, gain: torch.Tensor) -> torch.Tensor:
        log_pi_hat = torch.log(torch.tensor(1.0 / len(self.pi), device=self.pi.device))
        return pi_step(self.pi, log_pi_hat, gain, self.pi_lr, self.pi_decay, self.pi_temperature)

    def process_batch(self, batch, unlabeled_batch=None):
        results = super().process_batch(batch, unlabeled_batch)
        results["group_pi"] = self._over_all_groups(self.pi)
        return results

    def objective(self, results, pi: torch.Tensor | None = None):
        """sum_i pi[g_i] * (c / B) * l_i, the pi-weighted loss that ALSO minimises."""
        losses = _elementwise(self.loss, results)
        weights = self._over_all_groups(self.pi if pi is None else pi)[results["g"]]
        return (weights * losses).sum() * len(self.pi) / max(len(losses), 1)

    def update(self, batch, unlabeled_batch=None, is_epoch_end=False):
        results = {}

        def objective(pi_used: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            results.update(self.process_batch(batch, unlabeled_batch))
            losses = _elementwise(self.loss, results).detach()
            slots = self.group_slot[results["g"]]
            gain = torch.zeros_like(self.pi).index_add_(0, slots, losses * len(self.pi) / len(losses))
            return self.objective(results, pi_used), gain

        # rgd_bench's ALSO step (also.py), on WILDS's model, loss and groups.
        objective_value = also_step(self.model.parameters(), self.optimizer, self.pi, self.previous_pi_gain,
                                    self.has_previous_pi_gain, self._pi_step, objective,
                                    optimistic=self.also_mode == "optimistic", alpha=self.also_alpha,
                                    max_grad_norm=self.max_grad_norm)
        results["objective"] = objective_value.item()
        self.step_schedulers(is_epoch=False, metrics=self.log_dict, log_access=False)
        self.model.zero_grad()
        results["group_pi"] = self._over_all_groups(self.pi)
        self.update_log(results)
        self.batch_idx = 0 if is_epoch_end else self.batch_idx + 1
        return self.sanitize_dict(results)


MIXINS = {"RGD": _RGD, "SGD_HWS": _SGD_HWS, "ALSO": _ALSO}
_CLASSES: dict[tuple[str, type], type] = {}


def algorithm_class(name: str) -> type:
    """The WILDS-side class of ``name`` (examples/ must be importable)."""
    from algorithms.single_model_algorithm import SingleModelAlgorithm

    key = (name, SingleModelAlgorithm)
    if key not in _CLASSES:
        _CLASSES[key] = type(name, (MIXINS[name], SingleModelAlgorithm), {"__module__": __name__})
    return _CLASSES[key]


def _initialize_algorithm(original: Callable) -> Callable:
    def initialize_algorithm(config, datasets, train_grouper, unlabeled_dataset=None):
        name = config.algorithm
        hardness_weighted = isinstance(getattr(datasets["train"]["loader"], "batch_sampler", None),
                                       HardnessWeightedBatchSampler)
        if hardness_weighted and name != "SGD_HWS":
            raise UsageError(f"The {HWS_LOADER} train loader draws for SGD_HWS only; {name} cannot use it.")
        if name not in MIXINS:
            return original(config, datasets, train_grouper, unlabeled_dataset=unlabeled_dataset)
        if unlabeled_dataset is not None:
            raise UsageError(f"{name} trains on labeled data only: drop --unlabeled_split.")
        problems = [hp.problem(key, name, getattr(config, key)) for key, hp in hparam_spaces()[name].items()]
        problems = [p for p in problems if p]
        if problems:
            raise UsageError(" ".join(problems))
        initializer = sys.modules["algorithms.initializer"]
        train_dataset, train_loader = datasets["train"]["dataset"], datasets["train"]["loader"]
        kwargs = dict(  # as WILDS's initialize_algorithm builds its own
            config=config, d_out=initializer.infer_d_out(train_dataset, config), grouper=train_grouper,
            loss=initializer.initialize_loss(config.loss_function, config),
            metric=initializer.algo_log_metrics[config.algo_log_metric],
            n_train_steps=math.ceil(len(train_loader) / config.gradient_accumulation_steps) * config.n_epochs)
        if not hasattr(kwargs["loss"], "compute_element_wise"):
            raise UsageError(f"{name} needs per-example losses; --loss_function {config.loss_function} "
                             "gives only a batch mean.")
        if name == "ALSO":
            groups = train_grouper.metadata_to_group(train_dataset.metadata_array)
            kwargs["is_group_in_train"] = initializer.get_counts(groups, train_grouper.n_groups) > 0
        if name == "SGD_HWS":
            kwargs["train_loader"] = train_loader
        return algorithm_class(name)(**kwargs)
    return initialize_algorithm


# --- registration ------------------------------------------------------------------------

def _examples_dir() -> str:
    return os.path.dirname(os.path.abspath(sys.modules["run_expt"].__file__))


def _replace(module, name: str, make_wrapper: Callable) -> None:
    """Put a wrapper of ``module.name`` there and in every module of the examples folder
    that imported the name (``from ... import name`` copies it); nowhere else."""
    current = getattr(module, name)
    original = getattr(current, "rgd_bench_original", None)
    if original is None:
        original, current = current, make_wrapper(current)
        current.rgd_bench_original = original
    inside = _examples_dir() + os.sep
    for loaded in list(sys.modules.values()):
        if (getattr(loaded, "__file__", None) or "").startswith(inside) and vars(loaded).get(name) is original:
            setattr(loaded, name, current)
    setattr(module, name, current)


def _flags(spaces: dict, parse_bool: Callable) -> list[tuple[str, dict]]:
    flags = []
    for name, space in spaces.items():
        for key, hp in space.items():
            kwargs = {"help": f"{name}: {hp.doc or key} (default {hp.default!r})"}
            if hp.kind is bool:
                kwargs.update(type=parse_bool, const=True, nargs="?")
            else:  # checked against the hyperparameter's own declaration: type, range, choices
                kwargs.update(type=hp.spec.parse, metavar=hp.kind.__name__.upper())
            flags.append((f"--{key}", kwargs))
    return flags


def _add_flags(run_expt, flags: list[tuple[str, dict]]) -> None:
    """run_expt builds its parser inside main(): its ``argparse`` becomes one whose parser
    also knows our flags and the hardness_weighted train loader."""
    real = run_expt.argparse
    if getattr(real, "rgd_bench_flags", False):
        return

    class ArgumentParser(real.ArgumentParser):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            group = self.add_argument_group("rgd_bench algorithms (RGD, SGD_HWS, ALSO)")
            for flag, flag_kwargs in flags:
                group.add_argument(flag, **flag_kwargs)

        def add_argument(self, *args, **kwargs):
            if "--train_loader" in args and kwargs.get("choices"):
                kwargs["choices"] = [*kwargs["choices"], HWS_LOADER]
            return super().add_argument(*args, **kwargs)

    shim = types.ModuleType("argparse", real.__doc__)
    shim.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    shim.ArgumentParser, shim.rgd_bench_flags = ArgumentParser, True
    run_expt.argparse = shim


def _allow_missing_adamw() -> None:
    """transformers >= 4.50 has no ``AdamW``, which WILDS's optimizer.py imports."""
    try:
        import transformers
    except ImportError:
        return  # run_expt's import then says what is missing
    if hasattr(transformers, "AdamW"):
        return

    class AdamW:
        def __init__(self, *args, **kwargs):
            raise UsageError(f"WILDS's --optimizer AdamW is transformers.AdamW, which transformers "
                             f"{transformers.__version__} no longer has: pip install 'transformers<4.50'.")

    transformers.AdamW = AdamW


def import_examples():
    """run_expt and the WILDS modules it uses (examples/ on sys.path), or ImportError."""
    import_wilds()  # no update check; torch_scatter available
    _allow_missing_adamw()
    try:
        return importlib.import_module("run_expt")
    except ImportError as error:
        raise ImportError(f"WILDS's examples/run_expt.py is not importable ({error}); put the examples folder "
                          "of a WILDS checkout on sys.path, and install what it imports "
                          "(transformers, ...)") from error


def register(names: Sequence[str] = ALGORITHM_NAMES) -> None:
    """Make ``names`` trainable by WILDS's run_expt (idempotent)."""
    run_expt = import_examples()
    import configs.algorithm
    import configs.supported
    import wilds.common.data_loaders
    from utils import parse_bool  # WILDS's examples/utils.py

    import algorithms.initializer

    spaces = {name: space for name, space in hparam_spaces().items() if name in names}
    for name in names:
        if name not in configs.supported.algorithms:
            configs.supported.algorithms.append(name)
        configs.algorithm.algorithm_defaults[name] = {
            "train_loader": LOADERS[name], "uniform_over_groups": False, "eval_loader": "standard",
            **({"loader_kwargs": {"num_workers": 0}} if name == "SGD_HWS" else {}),
            **{key: hp.default for key, hp in spaces[name].items()}}
    _replace(algorithms.initializer, "initialize_algorithm", _initialize_algorithm)
    _replace(wilds.common.data_loaders, "get_train_loader", _get_train_loader)
    _add_flags(run_expt, _flags(spaces, parse_bool))


def _get_dataset(original: Callable) -> Callable:
    def get_dataset(dataset: str, version=None, unlabeled: bool = False, **dataset_kwargs):
        from rgd_bench.datasets.wilds_synthetic import SYNTHETIC_DATASETS

        if dataset in SYNTHETIC_DATASETS:
            if unlabeled:
                raise UsageError(f"{dataset} has no unlabeled data.")
            return SYNTHETIC_DATASETS[dataset](version=version, **dataset_kwargs)
        with pandas_object_strings(dataset):
            return original(dataset, version=version, unlabeled=unlabeled, **dataset_kwargs)
    return get_dataset


def register_synthetic_datasets() -> None:
    """``synthetic_waterbirds`` in wilds.supported_datasets, get_dataset and run_expt's
    dataset defaults; get_dataset also gets load_wilds_dataset's pandas-3 guard."""
    wilds = import_wilds()
    import configs.datasets

    from rgd_bench.datasets.wilds_synthetic import SYNTHETIC_DATASETS

    for name in SYNTHETIC_DATASETS:
        if name not in wilds.supported_datasets:
            wilds.supported_datasets.append(name)
        configs.datasets.dataset_defaults.setdefault(name, copy.deepcopy(SYNTHETIC_DEFAULTS))
    _replace(wilds, "get_dataset", _get_dataset)


def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=PROG, add_help=False)
    parser.add_argument("--examples_dir")
    ours, rest = parser.parse_known_args(argv)
    if not ours.examples_dir:
        _fail("--examples_dir PATH is required: the examples folder of a WILDS checkout; then run_expt's arguments")
    examples_dir = os.path.abspath(ours.examples_dir)
    if not os.path.isfile(os.path.join(examples_dir, "run_expt.py")):
        _fail(f"--examples_dir {ours.examples_dir!r} is not WILDS's examples folder (it has no run_expt.py)")
    sys.path.insert(0, examples_dir)
    try:
        register()
        register_synthetic_datasets()
    except ImportError as error:
        _fail(str(error))
    sys.argv = [os.path.join(examples_dir, "run_expt.py"), *rest]
    try:
        sys.modules["run_expt"].main()
    except UsageError as error:
        _fail(str(error))


if __name__ == "__main__":
    main()
