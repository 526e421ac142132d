"""``python -m rgd_bench.train``: one run, with DomainBed's ``train.py`` flags.

A thin command line over ``rgd_bench.engine.runner``: the flags become a ``RunConfig``.  Every
problem with them is found before anything is written, and reported as one line with exit
code 2.  Running the same command again on an incomplete run directory resumes it from its
last checkpoint.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from rgd_bench._cli import ArgumentParser, name_list, run_cli
from rgd_bench.engine.config import FIELDS, UNSET_MEANS, RunConfig, device_problem
from rgd_bench.engine.protocols import PROTOCOL_FLAGS
from rgd_bench.registry import ALGORITHMS, DATASETS

HELP = {
    "data_dir": "root of on-disk datasets", "dataset": "a dataset listed below",
    "algorithm": "an algorithm listed below", "hparams": "JSON object of hyperparameter overrides",
    "hparams_seed": "seed of the random hparams draw; 0: the defaults", "trial_seed": "seeds the splits and the random hparams",
    "seed": "seed for everything else", "steps": "number of steps",
    "checkpoint_freq": "evaluate, record and checkpoint every N steps", "output_dir": "the run directory",
    "skip_model_save": "do not write model.pkl",
    "save_model_every_checkpoint": "also write model_step<N>.pkl at every checkpoint",
    "device": "auto (cuda when there is one), cpu, cuda or cuda:N",
    "num_workers": "loader worker processes for on-disk datasets", "eval_batch_size": "batch size when evaluating",
    "plugins": "a .py file or module to import first: it registers your algorithms and datasets",
}


def _default(flag: str) -> str:
    return f"(default: {UNSET_MEANS[flag]})"


def device_flag(text: str) -> str:
    """An argparse ``type=`` for --device: its form only (whether CUDA is there is asked at run time)."""
    problem = device_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _add_flag(parser: ArgumentParser, name: str, spec, default, help_text: str, parse=None) -> None:
    if name in UNSET_MEANS and default is None:
        help_text = f"{help_text} {_default(name)}"
    kwargs = {"default": default, "help": help_text}
    if spec.kind is bool and parse is None:
        parser.add_argument(f"--{name}", action="store_true", **kwargs)
    elif spec.kind is list:
        metavar = "FILE_OR_MODULE" if name == "plugins" else None
        parser.add_argument(f"--{name}", nargs="+", type=spec.item.parse, metavar=metavar, **kwargs)
    else:
        metavar = "{true,false}" if spec.kind is bool else None
        parser.add_argument(f"--{name}", type=parse or spec.parse, metavar=metavar, **kwargs)


def build_parser() -> ArgumentParser:
    """One flag per ``RunConfig`` field: the rules of each are the config's and its protocol's."""
    parser = ArgumentParser(prog="python -m rgd_bench.train", before_help=_list_registries,
                            usage="%(prog)s [--dataset NAME] [--algorithm NAME] [options]",
                            description="Train one run into --output_dir: DomainBed's protocol on DomainBed "
                                        "datasets, WILDS's on WILDS datasets. Running it again resumes it.")
    for name, field in FIELDS.items():
        if name in PROTOCOL_FLAGS:
            flag = PROTOCOL_FLAGS[name]
            _add_flag(parser, name, flag.spec, None, flag.help, flag.parse)
        elif name == "device":
            parser.add_argument("--device", type=device_flag, default=field.default, help=HELP[name])
        else:
            _add_flag(parser, name, field.metadata["spec"], field.default, HELP[name])
    parser.add_argument("--no_progress", action="store_true",
                        help="no step progress on stderr (a sweep's jobs: the sweep reports progress)")
    return parser


def registry_lines(namespace: argparse.Namespace) -> list[str]:
    """The algorithms and datasets a run may name: the registries, with installed plugins and
    those of --plugins (when given before --help) imported."""
    plugins = getattr(namespace, "plugins", None)
    if plugins:
        from rgd_bench.plugins import import_plugins

        import_plugins(plugins)
    return [name_list("Algorithms", ALGORITHMS.names()), name_list("Datasets", DATASETS.names())]


def _list_registries(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    parser.epilog = "\n\n".join(registry_lines(namespace))


def parse(argv: Sequence[str] | None = None) -> tuple[RunConfig, bool]:
    """The config of a command line, and whether to show progress."""
    args = vars(build_parser().parse_args(argv))
    show_progress = not args.pop("no_progress")
    return RunConfig(**args), show_progress


def train(argv: Sequence[str] | None = None):
    """Parse, check and run; returns the engine's ``RunSummary``."""
    from rgd_bench.engine.runner import run

    config, show_progress = parse(argv)
    return run(config, show_progress)


def main(argv: Sequence[str] | None = None) -> None:
    if os.environ.get("RGD_BENCH_DIE_WITH_PARENT") == "1":  # set by sweep launchers
        from rgd_bench.engine.runlock import die_with_parent

        die_with_parent()
    run_cli(lambda: train(argv).exit_code, prog="python -m rgd_bench.train")


if __name__ == "__main__":
    main(sys.argv[1:])
