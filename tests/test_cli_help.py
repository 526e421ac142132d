"""`--help` of train, sweep (and each sweep command) and report: the registered names (plugins
included), the launchers, the selection methods and formats, and what every option is when
left out, read from where each default is declared; every line fits an 80-column terminal."""
from __future__ import annotations

import dataclasses
import importlib
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from rgd_bench._cli import describe_default
from rgd_bench.algorithms.erm import ERM
from rgd_bench.registry import ALGORITHMS, DATASETS
from rgd_bench.report.formats import FORMATS
from rgd_bench.report.selection import SELECTION_METHODS
from rgd_bench.sweep import help as sweep_help
from rgd_bench.sweep.cli import DEFAULT_SWEEP
from rgd_bench.sweep.launchers import LAUNCHERS
from rgd_bench.sweep.plan import SweepSpec

SWEEP_COMMANDS = ("launch", "status", "list", "delete_incomplete")
PARSERS = {"rgd_bench.train": "rgd_bench.train", "rgd_bench.sweep": "rgd_bench.sweep.cli",
           "rgd_bench.report": "rgd_bench.report.cli"}
HELPS = [("rgd_bench.train",), ("rgd_bench.sweep",), *(("rgd_bench.sweep", c) for c in SWEEP_COMMANDS),
         ("rgd_bench.report",)]


@pytest.fixture
def show_help(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")

    def call(module: str, *argv: str) -> str:
        result = cli(module, *argv, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: ")
        return result.stdout

    return call


def option_helps(text: str) -> dict[str, str]:
    """Each option's help, joined into one line: {"--steps": "number of steps (default: ...)"}."""
    options, current = {}, None
    for line in text.split("\n\n", 1)[1].splitlines():  # after the usage
        match = re.match(r"  (?:-\w, )?(--\w+)(?: \S+(?: \[\S+ \.\.\.\])?)?(?:  +(.*))?$", line)
        if match:
            current = match.group(1)
            options[current] = match.group(2) or ""
        elif current and line.startswith(" " * 24):
            options[current] += " " + line.strip()
        else:
            current = None
    return {name: " ".join(text.split()) for name, text in options.items()}


@pytest.mark.parametrize("argv", HELPS, ids=" ".join)
def test_every_option_says_its_default_and_every_line_fits_80_columns(show_help, argv):
    text = show_help(*argv)
    options = option_helps(text)
    parser = importlib.import_module(PARSERS[argv[0]]).build_parser()
    assert set(options) == {action.option_strings[-1] for action in parser._actions if action.option_strings}
    for name, help_text in options.items():
        if name == "--help":
            continue
        assert "(default: " in help_text or "(required, unless" in help_text, (name, help_text)
        assert "default: None" not in help_text, name
    assert all(len(line) <= 80 for line in text.splitlines()), [l for l in text.splitlines() if len(l) > 80]


@pytest.mark.parametrize("argv", [a for a in HELPS if a[0] != "rgd_bench.report"], ids=" ".join)
def test_train_and_sweep_list_the_registered_names_plugins_included(show_help, monkeypatch, argv):
    monkeypatch.setitem(ALGORITHMS._items, "HelpPluginAlgorithm", ERM)  # as a plugin registers one
    text = " ".join(show_help(*argv).split())
    algorithms = re.search(r"Algorithms: (.*?) Datasets:", text).group(1)
    assert algorithms.split(", ") == ALGORITHMS.names() and "HelpPluginAlgorithm" in algorithms
    assert all(name in text for name in DATASETS.names())


def test_train_help_says_what_each_unset_flag_means(show_help):
    options = option_helps(show_help("rgd_bench.train"))
    assert options["--steps"].endswith("(default: the dataset's N_STEPS; WILDS datasets: N_EPOCHS epochs)")
    assert "(default: the dataset's CHECKPOINT_FREQ" in options["--checkpoint_freq"]
    assert options["--dataset"].endswith("(default: ColoredMNIST5k)")
    assert options["--test_envs"].endswith("(default: 0)")
    assert options["--skip_model_save"].endswith("(default: off)")
    assert options["--eval_batch_size"].endswith("(default: 128)")


def test_sweep_help_defaults_come_from_the_plan_and_the_default_sweep(show_help):
    options = option_helps(show_help("rgd_bench.sweep"))
    plan_defaults = {f.name: f.default for f in dataclasses.fields(SweepSpec)}
    for key in ("n_hparams", "n_trials", "single_test_envs"):
        plain = describe_default(plan_defaults[key])
        if key in DEFAULT_SWEEP and DEFAULT_SWEEP[key] != plan_defaults[key]:
            plain += f"; the default sweep: {describe_default(DEFAULT_SWEEP[key])}"
        assert options[f"--{key}"].endswith(f"(default: {plain})"), key
    assert options["--datasets"].endswith(
        f"(required, unless a sweep file sets it; the default sweep: {' '.join(DEFAULT_SWEEP['datasets'])})")
    assert options["--launcher"].endswith("(default: multiprocess)")
    assert options["--retries"].endswith("(default: 0)")


def test_sweep_help_lists_the_commands_launchers_and_the_default_sweep(show_help):
    text = " ".join(show_help("rgd_bench.sweep").split())
    for command, description in sweep_help.COMMANDS.items():
        assert f"{command} {' '.join(description.split())}" in text
    launchers = text.split("Launchers (--launcher):")[1]
    assert [name for name in LAUNCHERS if f" {name} " in launchers] == list(LAUNCHERS)
    assert "multiprocess N worker processes" in launchers
    assert f"n_hparams {DEFAULT_SWEEP['n_hparams']}" in text.split("The default sweep")[1]


@pytest.mark.parametrize("command", SWEEP_COMMANDS)
def test_each_sweep_command_has_its_own_help(show_help, command):
    text = show_help("rgd_bench.sweep", command)
    assert text.startswith(f"usage: python -m rgd_bench.sweep {command} [SWEEP.toml] [options]\n")
    assert " ".join(sweep_help.COMMANDS[command].split()) in " ".join(text.split())
    assert "Commands:" not in text  # the other commands are the general help's
    others = [c for c in SWEEP_COMMANDS if c != command]
    assert not any(" ".join(sweep_help.COMMANDS[c].split()) in " ".join(text.split()) for c in others)


def test_help_after_a_sweep_file_and_flags_still_describes_the_command(show_help, tmp_path):
    smoke = os.path.join(REPO_ROOT, "sweeps", "smoke.toml")
    text = show_help("rgd_bench.sweep", "delete_incomplete", smoke, "--output_dir", str(tmp_path))
    assert text.startswith("usage: python -m rgd_bench.sweep delete_incomplete ")
    assert list(tmp_path.iterdir()) == []  # help, and nothing else


def test_report_help_lists_selection_methods_aliases_and_formats(show_help):
    text = " ".join(show_help("rgd_bench.report").split())
    methods = text.split("Selection methods (--selection):")[1]
    for key, method in SELECTION_METHODS.items():
        assert f"{key} {method.name}" in methods
    assert "(also: iid, training_domain_validation)" in methods and "wilds WILDS official" in methods
    formats = text.split("Formats (--format; the file --out_dir writes):")[1]
    assert all(f"{name} {filename}" in formats for name, (_, _, filename) in FORMATS.items())


def test_report_help_imports_no_torch():
    code = ("import sys; from rgd_bench.report.cli import build_parser; "
            "assert 'leaderboard.md' in build_parser().format_help(); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("module", ["rgd_bench.train", "rgd_bench.sweep"])
def test_help_after_plugins_lists_what_they_register(show_help, tmp_path, plugins_forgotten, module):
    from plugin_files import write_plugin

    plugin = write_plugin(tmp_path)
    text = " ".join(show_help(module, "--plugins", plugin).split())
    assert "PluggedERM" in text.split("Algorithms:")[1].split("Datasets:")[0]
    assert "PluggedTabular" in text.split("Datasets:")[1]
